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
        return "@" + self.type + "[" + str(self.index) + "]"

    def set(self, option, value):
        if option not in self.values:
            self.order.append(option)
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
    return s != "" and s.strip(NAME_CHARS) == ""


def valid_type(s):
    """libuci's uci_validate_type: section types may also hold '-'."""
    return s != "" and s.strip(NAME_CHARS + "-") == ""


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


# What only the character-by-character tokenizer reads: escapes, quotes, comments, ';',
# and every other character str.split() takes for blank space (libuci: only ' ', '\t').
SPECIAL = ("\\\"#;\r\v\f\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
           "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


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
    return part.split()     # the line holds no blank space but ' ' and '\t' (SPECIAL)


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


def parse(text, path=""):
    """Parse uci text into a list of Sections, in file order.

    Raises UciError (with the line number) where libuci in strict mode would
    refuse the file. A named section that appears twice is merged, as libuci
    does; `duplicates(sections)` reports it for callers that forbid it.
    """
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
