"""`lit-dl plot activations -o act.png`: figures for the docs."""

from __future__ import annotations

from jsonargparse import ArgumentParser


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lit-dl plot", description="Figures for the docs.", exit_on_error=False)
    figures = parser.add_subcommands(dest="figure")
    activations = ArgumentParser(description="Every activation and its derivative on one figure.")
    activations.add_argument("-o", "--output", default="activations.png", help="Where to write the PNG.")
    figures.add_subcommand("activations", activations)
    return parser


def main(argv: list[str]) -> None:
    from jsonargparse import ArgumentError

    from lit_dl.errors import UserError

    try:
        args = build_parser().parse_args(argv)
    except ArgumentError as error:
        raise UserError(f"{error}; try: lit-dl plot activations -o act.png") from error
    if args.figure == "activations":
        from lit_dl.plots import plot_activations

        print(plot_activations(args.activations.output))
