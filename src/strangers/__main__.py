from .cli import app

app(prog_name="strangers")
