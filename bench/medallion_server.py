"""medallion (OASIS TAXII 2.1 reference server) behind waitress, a production WSGI server.

``medallion CONFIG`` runs Flask's development server, which drops connections under load; a
peer measured that way would flatter PANACEA. This runs the same application, configured the
way medallion's own ``run`` script does, under waitress with several threads.

    python bench/medallion_server.py CONFIG.json PORT [THREADS]
"""

from __future__ import annotations

import json
import sys

import waitress
from medallion import application_instance, register_blueprints, set_config


def main() -> None:
    config_path, port = sys.argv[1], int(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    with open(config_path, encoding="utf-8") as f:
        configuration = json.load(f)
    for prop in ("users", "taxii", "backend"):
        set_config(application_instance, prop, configuration)
    register_blueprints(application_instance)
    waitress.serve(application_instance, host="127.0.0.1", port=port, threads=threads)


if __name__ == "__main__":
    main()
