// The proof of work at hello (docs/design.md §3; docs/protocol.md, "Admission"), off the page's
// thread. Given {challenge, bits}, finds a decimal nonce such that SHA-256 of the UTF-8
// bytes of `challenge + ":" + nonce` starts with at least `bits` zero bits (bits <= 32),
// and answers {challenge, nonce}. Same rule as strangers.core.admission.solve.
//
// A small SHA-256 (FIPS 180-4) of its own: crypto.subtle.digest costs a promise and a
// copy per hash, far slower for millions of tiny messages. The message is laid out once
// per nonce length with its padding; each try only rewrites the nonce's digits (counted
// in place, as an odometer) and hashes the blocks from the one the nonce starts in, the
// blocks before it being the same for every try.

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const w = new Int32Array(64);

// One compression of the 64-byte block at `offset` of `bytes` into `state` (8 words).
function compress(state, bytes, offset) {
  for (let i = 0; i < 16; i += 1) {
    const j = offset + i * 4;
    w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
  }
  for (let i = 16; i < 64; i += 1) {
    const a = w[i - 15];
    const b = w[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = state[0];
  let b = state[1];
  let c = state[2];
  let d = state[3];
  let e = state[4];
  let f = state[5];
  let g = state[6];
  let h = state[7];
  for (let i = 0; i < 64; i += 1) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
  state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0;
  state[7] = (state[7] + h) | 0;
}

// The message `prefix` + `digits` (ASCII), padded to whole blocks (FIPS 180-4 §5.1.1).
function layout(prefix, digits) {
  const length = prefix.length + digits.length;
  const bytes = new Uint8Array(Math.ceil((length + 9) / 64) * 64);
  bytes.set(prefix);
  for (let i = 0; i < digits.length; i += 1) bytes[prefix.length + i] = 48 + digits[i];
  bytes[length] = 0x80;
  const bits = length * 8; // < 2^32: the challenge and nonce are short
  const end = bytes.length;
  bytes[end - 4] = bits >>> 24;
  bytes[end - 3] = (bits >>> 16) & 0xff;
  bytes[end - 2] = (bits >>> 8) & 0xff;
  bytes[end - 1] = bits & 0xff;
  return bytes;
}

function solve(challenge, bits) {
  const prefix = new TextEncoder().encode(`${challenge}:`);
  // The blocks wholly before the nonce are hashed once.
  const first = Math.floor(prefix.length / 64) * 64;
  const midstate = new Int32Array(INITIAL);
  const head = layout(prefix, []);
  for (let offset = 0; offset < first; offset += 64) compress(midstate, head, offset);
  const state = new Int32Array(8);
  let digits = [0];
  for (;;) {
    const bytes = layout(prefix, digits);
    const at = prefix.length;
    for (;;) {
      state.set(midstate);
      for (let offset = first; offset < bytes.length; offset += 64) compress(state, bytes, offset);
      // bits <= 32: the first word holds them all. clz32(0) is 32.
      if (Math.clz32(state[0]) >= bits) return digits.join("");
      // Next nonce: add one to the decimal digits in place.
      let i = digits.length - 1;
      while (i >= 0 && digits[i] === 9) {
        digits[i] = 0;
        bytes[at + i] = 48;
        i -= 1;
      }
      if (i < 0) break; // one digit more: lay the message out again
      digits[i] += 1;
      bytes[at + i] = 48 + digits[i];
    }
    digits = [1, ...digits];
  }
}

self.addEventListener("message", (event) => {
  const { challenge, bits } = event.data ?? {};
  if (typeof challenge !== "string" || !Number.isInteger(bits) || bits < 0 || bits > 32) return;
  self.postMessage({ challenge, nonce: solve(challenge, bits) });
});
