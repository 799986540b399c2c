#!/usr/bin/env python3
"""Prints a boxed greeting: python3 hello/main.py --name world

The vendored packages (vendor/) are found through PYTHONPATH in the image;
run from a checkout, the path is added here.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "vendor"))

from banner import boxed  # noqa: E402
from greetings import greet  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="world", help="who to greet")
    parser.add_argument("--lang", default="en", help="language (en, fr, de)")
    args = parser.parse_args(argv)
    print(boxed(greet(args.name, args.lang)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
