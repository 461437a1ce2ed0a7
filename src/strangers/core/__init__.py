"""The sans-I/O core: protocol messages, sessions, pools, matching and policy.

Nothing in this package opens a socket, starts a task or reads a clock: every
function that needs the time takes it as an argument (seconds, monotonic or
wall, as each signature says). The gateway and the brokers are adapters that
feed it inputs and carry out the effects it returns.
"""
