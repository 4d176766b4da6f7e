"""``ablate probe A --weights W1 B --weights W2``: options that apply to the MODEL they follow, parsed by click.

click parses a command line in one pass and keeps no positions, but a per-model
option (:class:`PerModelOption`: ``--weights``, ``--mean``, ...) belongs to the MODEL
before it (given before every MODEL: to all of them). :class:`ProbeCommand` has
click's own parser read the line once more, stopping at each MODEL, so that each
group of options is read exactly as click reads the whole line: the same options
that take a value, ``--opt=value``, ``--`` and usage errors.
"""

from __future__ import annotations

import click


class PerModelOption(click.Option):
    """An option of ``ablate probe`` that applies to the MODEL it follows: given once per MODEL, so repeatable."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, multiple=True, **kwargs)


class ProbeCommand(click.Command):
    """A command whose :class:`PerModelOption` values are also grouped by MODEL, in ``ctx.meta["per_model"]``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["per_model"] = option_groups(self, ctx, args)
        return super().parse_args(ctx, args)


def option_groups(command: click.Command, ctx: click.Context, args: list[str]) -> tuple[dict, list[dict]]:
    """``(per-model options before any MODEL, [per-model options after each MODEL])``, each ``{name: text}``
    (the last value where one is given twice), from click's parser of ``command``."""
    names = {p.name for p in command.params if isinstance(p, PerModelOption)}
    models = next(p.name for p in command.params if isinstance(p, click.Argument))
    parser = command.make_parser(ctx)
    parser.allow_interspersed_args = False           # stop at the next MODEL: what follows is read again
    groups: list[dict] = []
    rest, ended = list(args), False                  # ended: past a lone "--", every token is a MODEL
    while True:
        opts, _, _ = parser.parse_args(["--", *rest] if ended else list(rest))     # a copy: it is consumed
        groups.append({name: values[-1] for name, values in opts.items() if name in names})
        sources = positional(opts, models)
        if not sources:
            return groups[0], groups[1:]
        first = len(rest) - len(sources)             # where the MODEL is in rest
        ended = ended or (first > 0 and rest[first - 1] == "--" and ends_options(parser, models, rest[:first]))
        rest = sources[1:]


def ends_options(parser, models: str, tokens: list[str]) -> bool:
    """Whether the ``--`` that ends ``tokens`` ended the options, rather than being an option's value: in its
    place a lone ``-`` (never an option) is then left over as a MODEL."""
    opts, _, _ = parser.parse_args([*tokens[:-1], "-"])
    return bool(positional(opts, models))


def positional(opts: dict, models: str) -> list[str]:
    """The MODELs a parse found (click marks none found with a sentinel, not an empty tuple)."""
    found = opts.get(models)
    return list(found) if isinstance(found, (tuple, list)) else []
