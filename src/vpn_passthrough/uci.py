"""The uci file format, read and written the way libuci does it (file.c).

Only the format lives here: no schema, no defaults. Parsing follows libuci's
tokenizer: single quotes are literal, double quotes and bare words take
backslash escapes, a backslash at the end of a line joins the next line,
quoted strings may span lines, '#' outside quotes ends the line, ';' ends a
command, and the keywords may be abbreviated to their first letter.
"""

MAX_LINE = 4096  # libuci: LINEBUF_MAX, "line too long"


class UciError(Exception):
    def __init__(self, message, line=0, path=""):
        super().__init__(message)   # MicroPython: Exception has no __init__ attribute
        self.message = message
        self.line = line
        self.path = path

    def __str__(self):
        where = self.path or "uci"
        if self.line:
            where += ":" + str(self.line)
        return where + ": " + self.message


def anonymous_label(stype, index):
    """uci's name for the index-th anonymous section of a type: '@client[0]'."""
    return "@" + stype + "[" + str(index) + "]"


class Section:
    """One `config` block. `values` maps option name -> str (option) or list (list)."""
    __slots__ = ("type", "name", "index", "line", "values", "order", "duplicate_line")

    def __init__(self, stype, name, index, line):
        self.type = stype
        self.name = name            # None for an anonymous section
        self.index = index          # position among sections of the same type
        self.line = line
        self.values = {}
        self.order = []             # option names in file order, for writing back
        self.duplicate_line = 0     # where a named section was declared again, if it was

    def label(self):
        """The name uci itself prints: 'lan' or '@client[0]'."""
        if self.name is not None:
            return self.name
        return anonymous_label(self.type, self.index)

    def set(self, option, value):
        if option not in self.values:
            self.order = self.order + [option]  # a new list: sections may share one
        self.values[option] = value

    def add_list(self, option, value):
        old = self.values.get(option)
        if old is None:
            self.set(option, [value])
        elif isinstance(old, list):
            old.append(value)
        else:                       # libuci turns an option into a list
            self.values[option] = [old, value]

    def get(self, option, default=None):
        return self.values.get(option, default)


NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


def valid_name(s):
    """libuci's uci_validate_name: section and option names."""
    if not s:
        return False
    for c in s:
        if c not in NAME_CHARS:
            return False
    return True


def valid_type(s):
    """libuci's uci_validate_type: section types may also hold '-'."""
    if not s:
        return False
    for c in s:
        if c not in NAME_CHARS and c != "-":
            return False
    return True


class _Lexer:
    """Splits the text into commands: lists of (word) tokens, each with its line."""

    def __init__(self, text, path):
        self.lines = text.split("\n")
        # one scan of the whole file spares a per-line check in the common case
        self.split = _plain_tokens if _has_special(text) else _split_plain
        self.path = path
        self.n = 0          # index of the current line
        self.buf = ""
        self.pos = 0

    def error(self, message):
        raise UciError(message, self.n, self.path)

    def next_line(self):
        if self.n >= len(self.lines):
            return False
        self.buf = self.lines[self.n]
        if self.buf.endswith("\r"):
            self.buf = self.buf[:-1]
        self.n += 1
        self.pos = 0
        if len(self.buf) >= MAX_LINE:
            self.error("line too long")
        return True

    def more_text(self, what, start):
        # a quoted string continues on the next line; report where it opened
        if not self.next_line() or (self.n == len(self.lines) and self.buf == ""):
            raise UciError("EOF with unterminated " + what, start, self.path)
        return "\n"

    def line_commands(self):
        """The commands of the next logical line, [(line, [tokens])]: several
        physical lines when a quote or a trailing backslash carries on."""
        line = self.lines[self.n]
        tokens = self.split(line) if len(line) < MAX_LINE else None
        if tokens is not None:            # the common line: no escapes, whole '...' words
            self.n += 1
            return [(self.n, tokens)] if tokens else []
        self.next_line()
        out = []
        start = self.n
        tokens = []
        while True:
            tok = self.token()
            if tok is None:               # end of line (or comment)
                if tokens:
                    out.append((start, tokens))
                return out
            if tok is False:              # ';' ends a command, not the line
                if tokens:
                    out.append((start, tokens))
                tokens = []
                start = self.n
                continue
            tokens.append(tok)

    def commands(self):
        """Yield (line, [tokens]) for each command."""
        while self.n < len(self.lines):
            for command in self.line_commands():
                yield command

    def token(self):
        buf = self.buf
        while self.pos < len(buf) and buf[self.pos] in " \t":
            self.pos += 1
        if self.pos >= len(self.buf):
            return None
        c = self.buf[self.pos]
        if c == "#":
            return None
        if c == ";":
            self.pos += 1
            return False
        out = []
        while self.pos < len(self.buf):
            c = self.buf[self.pos]
            if c in " \t":
                break
            if c == "#":
                self.pos = len(self.buf)
                break
            if c == ";":
                break
            if c == "'":
                self.pos += 1
                self.single_quoted(out)
            elif c == '"':
                self.pos += 1
                self.double_quoted(out)
            elif c == "\\":
                self.backslash(out, "backslash")
            else:
                out.append(c)
                self.pos += 1
        return "".join(out)

    def backslash(self, out, what):
        self.pos += 1
        if self.pos >= len(self.buf):
            if self.n >= len(self.lines):
                return                    # libuci ignores a final lone backslash
            self.next_line()              # line continuation: nothing is added
            return
        out.append(self.buf[self.pos])
        self.pos += 1

    def single_quoted(self, out):
        start = self.n
        while True:
            end = self.buf.find("'", self.pos)
            if end >= 0:
                out.append(self.buf[self.pos:end])
                self.pos = end + 1
                return
            out.append(self.buf[self.pos:])
            out.append(self.more_text("'", start))

    def double_quoted(self, out):
        start = self.n
        while True:
            if self.pos >= len(self.buf):
                out.append(self.more_text('"', start))
                continue
            c = self.buf[self.pos]
            if c == '"':
                self.pos += 1
                return
            if c == "\\":
                if self.pos + 1 >= len(self.buf):
                    self.pos += 1
                    self.more_text('"', start)   # escaped newline joins the lines
                    continue
                self.backslash(out, '"')
            else:
                out.append(c)
                self.pos += 1


SPECIAL = "\\\"#;\r\v\f"   # what only the character-by-character tokenizer reads


def _has_special(text):
    for c in SPECIAL:
        if c in text:
            return True
    return False


def _plain_tokens(line):
    """The tokens of a line made only of bare words and whole single-quoted words
    (what `uci commit` writes), split with str methods; None for any other line
    (backslash, double quote, '#', ';', a quote glued to a word or left open), which
    the character-by-character tokenizer then reads exactly as libuci does."""
    if _has_special(line):
        return None
    return _split_plain(line)


def _words(part):
    return [w for w in part.replace("\t", " ").split(" ") if w]


def _split_plain(line):
    """_plain_tokens for a line known to hold nothing of SPECIAL."""
    parts = line.split("'")
    if len(parts) == 1:
        return _words(line)
    if len(parts) == 3 and parts[2] == "" and parts[0][-1:] in (" ", "\t"):
        tokens = _words(parts[0])         # uci commit's own shape: option name 'value'
        tokens.append(parts[1])
        return tokens
    last = len(parts) - 1
    if last % 2:
        return None                       # a quote left open: continues on the next line
    tokens = []
    for i in range(len(parts)):
        part = parts[i]
        if i % 2:
            tokens.append(part)           # literal, as libuci reads single quotes
            continue
        part = part.replace("\t", " ")
        if part == "" and 0 < i < last:
            return None                   # 'a''b' is one word
        if (i > 0 and part and part[0] != " ") or (i < last and part and part[-1] != " "):
            return None                   # a quote glued to a word: 'a'b, a'b'
        for word in part.split(" "):
            if word:
                tokens.append(word)
    return tokens


KEYWORDS = {}
for _full in ("package", "config", "option", "list"):
    KEYWORDS[_full] = KEYWORDS[_full[0]] = _full   # libuci takes the first letter too


class _Builder:
    """Sections from commands, with libuci's checks and its merging of named sections."""

    def __init__(self, path):
        self.path = path
        self.sections = []
        self.by_name = {}
        self.counts = {}
        self.current = None

    def command(self, line, tokens):
        path = self.path
        cmd = KEYWORDS.get(tokens[0])
        if cmd is None:
            raise UciError("invalid command '" + tokens[0] + "'", line, path)
        args = tokens[1:]
        if cmd == "package":
            if len(args) != 1:
                raise UciError("package needs one name", line, path)
        elif cmd == "config":
            self.config(line, args)
        else:
            if self.current is None:
                raise UciError("option/list command found before the first section", line, path)
            if not args or len(args) > 2:
                raise UciError(cmd + " needs a name and one value", line, path)
            if not valid_name(args[0]):
                raise UciError("invalid character in name field", line, path)
            value = args[1] if len(args) == 2 else ""
            if cmd == "list":
                self.current.add_list(args[0], value)
            else:
                self.current.set(args[0], value)

    def config(self, line, args):
        path = self.path
        if not args or len(args) > 2:
            raise UciError("config needs a type and at most one name", line, path)
        stype = args[0]
        if not valid_type(stype):
            raise UciError("invalid character in type field", line, path)
        name = args[1] if len(args) == 2 and args[1] != "" else None
        if name is not None and not valid_name(name):
            raise UciError("invalid character in name field", line, path)
        index = self.counts.get(stype, 0)
        self.counts[stype] = index + 1
        if name is not None and name in self.by_name:
            self.current = self.by_name[name]
            self.current.duplicate_line = line
            if self.current.type != stype:
                raise UciError("section of different type overwrites prior "
                               "section with same name", line, path)
            return
        self.current = Section(stype, name, index, line)
        self.sections.append(self.current)
        if name is not None:
            self.by_name[name] = self.current

    def anonymous(self, stype, line):
        """`config TYPE`, its type already checked."""
        index = self.counts.get(stype, 0)
        self.counts[stype] = index + 1
        self.current = Section(stype, None, index, line)
        self.sections.append(self.current)
        return self.current


SLOT = "\"'\""   # stands for a value: "'" is a token no real one in a plain file can be


def _block_program(gaps):
    """How to build a section from a `config` block whose quoted values are cut out,
    leaving `gaps`: (type, named, [(option, is_list)], names, list names, each name
    once?), read once by the full tokenizer with a placeholder for each value. False
    unless the block is uci commit's shape: `config TYPE ['name']`, then one
    `option|list NAME 'value'` per line."""
    try:
        commands = [t for _, t in _Lexer("config " + SLOT.join(gaps), "").commands()]
    except UciError:
        return False
    head = commands[0] if commands else []
    named = head[2:] == ["'"]
    if len(head) != 2 + named or not valid_type(head[1]):
        return False
    options = []        # every token is checked: a value glued to a word shows as "x'"
    for tokens in commands[1:]:
        if (len(tokens) != 3 or tokens[2] != "'" or not valid_name(tokens[1])
                or KEYWORDS.get(tokens[0]) not in ("option", "list")):
            return False
        options.append((tokens[1], KEYWORDS[tokens[0]] == "list"))
    names = [o for o, _ in options]
    lists = [o for o, is_list in options if is_list]
    return head[1], named, options, names, lists, len(set(names)) == len(names)


def _parse_blocks(text, path, keep=None):
    """parse() for a file in uci commit's layout: `config` blocks cut apart and their
    quoted values taken out at C speed; each shape of block is read once by the full
    tokenizer (_block_program). None where anything else shows: a comment, an escape,
    a block of another shape, a line that may be too long. The lexer then reads it.
    With `keep` (a section type), blocks of that type are not made into Sections but
    returned as rows (see parse_keeping); None unless every such block is anonymous
    and names each option once."""
    if _has_special(text):
        return None
    blocks = text.split("\nconfig ")
    if blocks[0].startswith("config "):
        blocks[0] = blocks[0][len("config "):]
        line = 1
    elif _words(blocks[0]) or len(blocks) < 2:
        return None
    else:                                 # blank lines before the first section
        line = blocks.pop(0).count("\n") + 2
    builder = _Builder(path)
    programs = {}
    alike = {}          # blocks that differ only in blank space share one program object
    kept, rows = [], []
    last_gaps = program = None
    counted = 0         # blocks before this one are counted in `line`
    for i, block in enumerate(blocks):
        parts = block.split("'")
        if len(block) >= MAX_LINE or not len(parts) % 2:
            return None                   # a long line maybe; a quote left open or cut
        gaps = parts[0::2]
        if gaps != last_gaps:             # a block like the one before: no hashing
            last_gaps = gaps
            shape = tuple(gaps)
            program = programs.get(shape)
            if program is None:
                program = _block_program(gaps)
                if program:
                    key = (program[0], program[1], tuple(program[2]))
                    program = alike.setdefault(key, program)
                programs[shape] = program
        if not program:
            return None
        stype, named, options, names, lists, unique = program
        values = parts[1::2]
        if stype == keep:
            if named or not unique:
                return None
            kept.append(program)
            rows.append(values)
            continue                      # its lines are counted if a section follows
        for skipped in blocks[counted:i]:
            line += skipped.count("\n") + 1
        counted = i + 1
        try:
            if named:
                builder.config(line, [stype, values.pop(0)])
                section = builder.current
            else:
                section = builder.anonymous(stype, line)
        except UciError:
            return None                   # the lexer reports it, in file order
        line += block.count("\n") + 1
        if unique and not section.order:  # each option once: no merging to do
            section.values = mapping = dict(zip(names, values))
            section.order = names         # shared by the sections of this shape
            for option in lists:
                mapping[option] = [mapping[option]]
            continue
        for (option, is_list), value in zip(options, values):
            if is_list:
                section.add_list(option, value)
            else:
                section.set(option, value)
    return builder.sections if keep is None else (builder.sections, kept, rows)


def parse_keeping(text, stype, path=""):
    """(sections of every other type, programs, rows) for a file in uci commit's layout
    whose `stype` sections are all anonymous with each option once, else None. Per
    `stype` block in file order: its program (as _block_program gives it; blocks with
    the same options share one object) and its row (the quoted values in that order).
    For a schema that reads thousands of sections of one kind as columns rather than
    as Section objects."""
    return _parse_blocks(text, path, stype)


def parse(text, path=""):
    """Parse uci text into a list of Sections, in file order.

    Raises UciError (with the line number) where libuci in strict mode would
    refuse the file. A named section that appears twice is merged, as libuci
    does; `duplicates(sections)` reports it for callers that forbid it.

    A file as uci commit writes it is read a block at a time (_parse_blocks);
    any other goes through the full tokenizer, line by line.
    """
    sections = _parse_blocks(text, path)
    if sections is not None:
        return sections
    lexer = _Lexer(text, path)
    builder = _Builder(path)
    for number, tokens in lexer.commands():
        builder.command(number, tokens)
    return builder.sections


def duplicates(sections):
    """Named sections that the file declares more than once: [(label, line)]."""
    out = []
    for s in sections:
        line = s.duplicate_line
        if line:
            out.append((s.label(), line))
    return out


def quote(value):
    """libuci's export quoting: always single quotes, ' as '\\''."""
    return "'" + value.replace("'", "'\\''") + "'"


def dump(sections):
    """Write sections back in uci's own export layout."""
    out = []
    for s in sections:
        head = "config " + s.type
        if s.name is not None:
            head += " " + quote(s.name)
        out.append("")
        out.append(head)
        for option in s.order:
            value = s.values.get(option)
            if value is None:
                continue
            if isinstance(value, list):
                for item in value:
                    out.append("\tlist " + option + " " + quote(item))
            else:
                out.append("\toption " + option + " " + quote(value))
    out.append("")
    return "\n".join(out)
