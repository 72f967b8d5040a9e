"""Run every notebook in ``notebooks/`` and store its outputs in place, figures included, so that a reader
browsing the repository sees them; the test suite (nbval) then checks that running a notebook gives the
outputs it stores, up to what ``notebooks/sanitize.cfg`` says changes from run to run.

    python scripts/run_notebooks.py [NOTEBOOK ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbclient
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def main(paths: list[str]) -> None:
    for path in [Path(p) for p in paths] or sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}}).execute()
        nbformat.write(notebook, path)
        figures = sum("image/png" in output.get("data", {}) for cell in notebook.cells
                      for output in cell.get("outputs", []))
        print(f"{path.name}: {len(notebook.cells)} cells, {figures} figures stored")


if __name__ == "__main__":
    main(sys.argv[1:])
