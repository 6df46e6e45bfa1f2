"""``unified-api-server``: run the suite (default or ``run``), ``keys``, ``demo-data``."""

import sys


def main(argv=None):
    """Dispatch to the launcher, the keys commands or the demo loader; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "run"
    if command == "keys":
        from unified_api_server.tools.keys import main as keys_main

        return keys_main(argv[1:])
    if command == "demo-data":
        from unified_api_server.tools.demo_loader import main as demo_main

        return demo_main(argv[1:])
    from unified_api_server.launcher import main as launch

    return launch(argv[1:] if command == "run" else argv)


if __name__ == "__main__":
    sys.exit(main())
