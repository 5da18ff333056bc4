"""`python -m lit_dl.cli ...`, the same as `lit-dl ...` (sweep trials run this way)."""

from lit_dl.cli import main

main()
