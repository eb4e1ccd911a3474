"""C source text for the source-scanning CI checks (tests/mpi_checked.sh, tests/format_owners.sh)."""
import re


def blank(text, strings=True):
    """Comments replaced by spaces (newlines kept, so positions and line numbers stay); string and
    char literals too when strings is true, else kept as they are."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]) if strings else text[i:j]); i = j
        else:
            out.append(c); i += 1
    return "".join(out)
