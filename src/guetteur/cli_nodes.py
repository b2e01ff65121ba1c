"""`guetteur node list|drain|resume`: the nodes of a cluster (decision 0011).

`drain` only sets the flag read by the lease logic (a draining node gives its cameras away);
`resume` clears it. An unknown node is an error (exit code 1).
"""

from __future__ import annotations

from typing import Annotated

import typer

from guetteur.cli_common import ConfigOpt, JsonOpt, container, handled, out

node_app = typer.Typer(help="Nœuds de la grappe : liste, maintenance.", no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(help="nom du nœud")]


@node_app.command("list")
@handled
def list_nodes(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Nœuds connus : rôles, version, dernier signe de vie, caméras, CPU, maintenance."""
    c = container(config)
    now = c.clock.now_us()
    nodes = c.nodes.list()
    if as_json:
        out([n.__dict__ | {"age_s": round(n.age_s(now), 1), "stopped": n.stopped}
             for n in nodes])
        return
    typer.echo(f"{'nom':<20} {'rôles':<22} {'version':<9} {'dernier signe de vie':>21} "
               f"{'caméras':>8} {'CPU':>7}  en maintenance")
    for n in nodes:
        age = f"{n.age_s(now):.0f} s" + (" (arrêté)" if n.stopped else "")
        cpu = n.stats.get("cpu_pct")
        cpu_txt = f"{cpu:.0f} %" if isinstance(cpu, (int, float)) else "-"
        typer.echo(f"{n.name:<20} {n.roles:<22} {n.version:<9} {age:>21} "
                   f"{n.stats.get('cameras', '-')!s:>8} {cpu_txt:>7}  "
                   f"{'oui' if n.draining else 'non'}")


@node_app.command("drain")
@handled
def drain(name: NameArg, config: ConfigOpt = None) -> None:
    """Met un nœud en maintenance : il cède ses caméras aux autres."""
    container(config).nodes.set_draining(name, True)
    typer.echo(f"nœud {name} : en maintenance (ses caméras passent aux autres nœuds)")


@node_app.command("resume")
@handled
def resume(name: NameArg, config: ConfigOpt = None) -> None:
    """Sort un nœud de maintenance : il peut de nouveau prendre des caméras."""
    container(config).nodes.set_draining(name, False)
    typer.echo(f"nœud {name} : de nouveau disponible")
