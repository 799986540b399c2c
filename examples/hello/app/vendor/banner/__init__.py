"""banner 1.2.0 (vendored): draws a box around lines of text."""

__version__ = "1.2.0"


def boxed(text, pad=1):
    """text framed by a box of '+', '-' and '|', pad spaces inside."""
    lines = text.splitlines() or [""]
    width = max(len(line) for line in lines) + 2 * pad
    edge = "+" + "-" * width + "+"
    body = ["|" + " " * pad + line.ljust(width - 2 * pad) + " " * pad + "|"
            for line in lines]
    return "\n".join([edge] + body + [edge])
