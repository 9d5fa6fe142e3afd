"""fw4's ruleset-post include: our table in a form that fw4 loads with its own ruleset at
every start, restart and reload, made from ruleset.render()'s text."""

from .plan import TABLE, FAMILY


def render(text):
    """The table for fw4's ruleset-post include, from render()'s text: loaded by every
    fw4 start, restart and reload, in fw4's own transaction. It must never replace a
    live table (that would reset its counts at each fw4 reload): everything is
    declared with `add` semantics (an existing table, set, element, counter or helper
    is kept as it is, counts included), then each chain is flushed and refilled, so
    the rules are those of the last apply, once. After `fw4 flush` (firewall stop) the
    table is created afresh, with the counts as they were at the last apply."""
    declare, rules, chains = [], [], []
    chain = None
    # the table block's lines: past the shebang, source, `table`, `delete`, `table {`
    for line in text.split("\n")[5:-2]:
        if line.startswith("\tchain "):
            chain = line[len("\tchain "):-2]
            chains.append(chain)
            declare.append(line)
            rules.append(line)
        elif chain is not None and line == "\t}":
            declare.append(line)
            rules.append(line)
            chain = None
        elif chain is not None and line.startswith("\t\ttype filter hook"):
            declare.append(line)
        elif chain is not None:
            rules.append(line)
        else:
            declare.append(line)
    head = ["# vpn-passthrough: fw4 ruleset-post include, written at each apply; do not edit",
            "table " + FAMILY + " " + TABLE + " {"]
    flushes = ["flush chain " + FAMILY + " " + TABLE + " " + c for c in chains]
    return "\n".join(head + declare + ["}"] + flushes
                     + ["table " + FAMILY + " " + TABLE + " {"] + rules + ["}", ""])
