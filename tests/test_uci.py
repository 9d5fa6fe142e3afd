"""The uci file format, case by case as libuci (file.c) reads it."""

import pytest

from vpn_passthrough import uci


def one(text):
    sections = uci.parse(text)
    assert len(sections) == 1
    return sections[0]


def test_named_and_anonymous_sections_keep_order_and_labels():
    s = uci.parse("config globals 'globals'\nconfig client\nconfig client\n")
    assert [x.label() for x in s] == ["globals", "@client[0]", "@client[1]"]


def test_quoting_styles():
    s = one("config t 'n'\n"
            "\toption a 'single # not a comment'\n"
            '\toption b "double \\"escaped\\" \\\\"\n'
            "\toption c bare\\ word\n"
            "\toption d 'con'\"cat\"enated\n"
            "\toption e 'it'\\''s'\n")
    assert s.get("a") == "single # not a comment"
    assert s.get("b") == 'double "escaped" \\'
    assert s.get("c") == "bare word"
    assert s.get("d") == "concatenated"
    assert s.get("e") == "it's"


def test_single_quotes_take_no_escapes():
    assert one("config t\n option a 'back\\slash'\n").get("a") == "back\\slash"


def test_comments_and_blank_lines():
    s = one("# head\n\nconfig t 'x' # trailing\n\toption a 'v' # note\n\t# list a 'no'\n")
    assert s.values == {"a": "v"}


def test_list_versus_option():
    s = one("config t\n list a '1'\n list a '2'\n option b 'x'\n list b 'y'\n")
    assert s.get("a") == ["1", "2"]
    assert s.get("b") == ["x", "y"]          # libuci turns the option into a list
    s = one("config t\n list a '1'\n option a '2'\n")
    assert s.get("a") == "2"                 # an option replaces the list


def test_multiline_quoted_values_and_line_continuation():
    s = one("config t\n option a 'one\ntwo'\n option b \"x\\\ny\"\n option c ab\\\ncd\n")
    assert s.get("a") == "one\ntwo"
    assert s.get("b") == "xy"
    assert s.get("c") == "abcd"


def test_abbreviated_keywords_and_semicolons():
    s = uci.parse("package 'vpn-passthrough'\nc t 'x'; o a 'b'; l c 'd'\n")
    assert s[0].get("a") == "b" and s[0].get("c") == ["d"]


def test_duplicate_named_section_is_merged_and_reported():
    s = uci.parse("config protocol 'pptp'\n option a 1\nconfig protocol 'pptp'\n option b 2\n")
    assert len(s) == 1 and s[0].values == {"a": "1", "b": "2"}
    assert uci.duplicates(s) == [("pptp", 3)]


@pytest.mark.parametrize("text, message, line", [
    ("option a 'b'\n", "before the first section", 1),
    ("config t 'x'\n bogus a b\n", "invalid command", 2),
    ("config t 'bad name'\n", "invalid character in name field", 1),
    ("config t 'x'\n option a 'unterminated\n", "unterminated '", 2),
    ("config t 'x'\n option a \"open\n", 'unterminated "', 2),
    ("config t 'x'\n option a b c\n", "needs a name and one value", 2),
    ("config t 'x'\n option 'a;b' c\n", "invalid character", 2),
    ("config t\n option a '" + "x" * 5000 + "'\n", "line too long", 2),
    ("config a 'x'\nconfig b 'x'\n", "different type", 2),
])
def test_errors_carry_the_line(text, message, line):
    with pytest.raises(uci.UciError) as e:
        uci.parse(text, "/etc/config/t")
    assert message in e.value.message
    assert e.value.line == line
    assert str(e.value).startswith("/etc/config/t:" + str(line) + ":")


def test_dump_round_trips_through_parse():
    text = ("config globals 'globals'\n option log '1'\n list lan_zone 'lan'\n"
            "config client\n option name \"it's \\\"me\\\"\"\n list ip '10.0.0.1'\n list ip '::1'\n")
    first = uci.parse(text)
    again = uci.parse(uci.dump(first))
    assert [(s.type, s.name, s.values) for s in again] == [(s.type, s.name, s.values) for s in first]
    assert "option name 'it'\\''s \"me\"'" in uci.dump(first)


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402


@hsettings(max_examples=3000, deadline=None)
@given(st.text(alphabet=" \t'\"\\#;abo_=x\x0b\x1c\xa0\u3000", max_size=30))
def test_fast_path_agrees_with_the_full_tokenizer(line):
    """_plain_tokens is a shortcut: wherever it answers, the full tokenizer must agree."""
    fast = uci._plain_tokens(line)
    if fast is None:
        return
    saved = uci._plain_tokens
    uci._plain_tokens = lambda _: None
    try:
        full = [t for _, t in uci._Lexer(line, "").commands()]
    finally:
        uci._plain_tokens = saved
    assert ([fast] if fast else []) == full


def _reference_parse(text):
    """uci.parse without its shortcuts: every line through the full tokenizer."""
    lexer = uci._Lexer(text, "")
    lexer.split = lambda line: None
    builder = uci._Builder("")
    for number, tokens in lexer.commands():
        builder.command(number, tokens)
    return builder.sections


def _outcome(parse, text):
    try:
        return [(s.type, s.name, s.index, s.line, s.duplicate_line, s.values, s.order)
                for s in parse(text)]
    except uci.UciError as e:
        return ("error", e.line, e.message)


LINES = st.sampled_from(["config client", "config globals 'globals'", "\toption name 'a b'",
                         "\tlist ip '1.2.3.4'", "\toption x '", "'", "\tlist ip 'a\\'",
                         "option name 'x'\r", "\to n 'v'", "\tl n 'v'", "\toption bad-name 'v'",
                         "\toption a 'b' # c", "\toption a 'b';", "", "  ", "\tlist a ''",
                         "\toption\tname\t'v'", "\toption a \"q\"", "#x", "\toption a 'é\t\\'",
                         "\toption a 'b' c", "\toption a 'b'c", "\toption a'b'", "list a 'b'",
                         "c x-y", "config a b c", "config\tb", "config cl#x", "config a\r",
                         "config a;", "config é", "package p", "p", "config protocol 'pptp'",
                         "config client ''", "\toption ip 'b'", "\tlist name 'c'",
                         "\toption name 'x", "y'", "config\tclient", " config client",
                         "c client", "config client 'a' 'b'", "\toption name ''"])


@hsettings(max_examples=3000, deadline=None)
@given(st.lists(st.one_of(LINES, st.text(alphabet=" \t'\"\\#;abo_lx\r\x1f\x85", max_size=12)),
                max_size=8))
def test_parse_shortcuts_agree_with_the_full_tokenizer(lines):
    text = "\n".join(lines)
    assert _outcome(uci.parse, text) == _outcome(_reference_parse, text)


def test_sections_of_one_shape_do_not_share_a_new_option():
    """Adding an option to one section must not show in another of its shape."""
    a, b = uci.parse("config client\n\toption name 'a'\n\nconfig client\n\toption name 'b'\n")
    a.set("action", "allow")
    a.add_list("ip", "10.0.0.1")
    assert a.order == ["name", "action", "ip"]
    assert b.order == ["name"] and b.values == {"name": "b"}
