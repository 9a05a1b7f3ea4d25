"""Your Devex REPL. Run it in the terminal with: python3 main.py"""


def greet(name: str) -> str:
    return f"Hello, {name}!"


if __name__ == "__main__":
    print(greet("Devex"))
