"""No fixed sentence states an outcome on our data (issue 25).

A sentence of a chapter's prose that states a result (a cluster is tighter,
smoothing hurts, a drop is larger) must take its words from the data, through
a glue role (``{glue:md}``), or be worded as the paper's claim (or another
author's), or ask a question. Everything else that uses an outcome word fails
here. The words and the exemptions are this test's own; an exemption names
the sentence and why it states no result of ours.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "notebooks").glob("*.md")) + sorted((ROOT / "book").glob("*.md"))

OUTCOME = re.compile(r"\b(tighter|tightens?|tightening|hurts?|helps?|drops?|dropped|costs? nothing|improves?|"
                     r"improved|worse|better|reproduces?|reproduced|pays?|falls?|fell|pull towards|"
                     r"confirms?|confirmed|contradicts?|erases?|erased|survives?)\b", re.I)
# A sentence that names whose claim it is, asks, or conditions on the verdict states no result of ours.
ATTRIBUTED = re.compile(r"(\bthe paper\b|\bpaper's\b|\bthe authors\b|Müller|Shen et al|Nagarajan|Hinton|Heo et al|"
                        r"Beyer|Chandrasegaran|their account|\bTables? [0-9A-J]|\bAppendix [A-J]\b|\bSec\. \d|slogan|\bclaims?\b|"
                        r"\bwhether\b|\bif\b|\bwhere\b.*\b(verdict|gate)\b|\?)", re.I)
EXEMPT = {
    # (page, start of the sentence): why it states no result of ours
    ("03_student_grid.md", "Report both final and best epoch"): "advice on reporting, no result",
    ("04_penultimate.md", "Reproduce the official script's bias bug"): "an exercise's instruction",
    ("08_errata.md", "The drops quoted in the text"): "a heading about the paper's own numbers",
    ("05_diffusion.md", "Every $d$ is non-negative"): "a property of the definition",
    ("05_diffusion.md", "Each point below is one student"): "defines the plotted measure (a drop in top-1)",
    ("10_teaching.md", "A chapter whose models are already cached"): "how the run cache behaves",
    ("13_deviations.md", "A smoothed teacher is less confident everywhere"): "the definitions of LS and T, then a question",
    ("13_deviations.md", "A smoothed teacher and a high $T$ both flatten"): "the definitions of LS and T",
    ("using_the_book.md", "An unknown name or a bad value fails"): "how the command line behaves",
    ("10_teaching.md", "and a bad value fails"): "how the command line behaves",
    ("99_reproducibility.md", "`make book` ends by opening every built page"): "how the browser check behaves",
}


def sentences(text: str) -> list[str]:
    """The prose sentences of a MyST page: code cells, front matter, directives' bodies and math left out."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    # exercises and solutions are prose on the page: keep their bodies, drop their fences and options
    text = re.sub(r"^(````+)\{(?:exercise|solution)\}[^\n]*\n((?::[^\n]*\n)*)(.*?)^\1\s*$", r"\3", text,
                  flags=re.S | re.M)
    text = re.sub(r"^(```+|~~~).*?^\1\s*$", "", text, flags=re.S | re.M)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    out = []
    for para in re.split(r"\n\s*\n", text):
        para = " ".join(line.strip() for line in para.splitlines())
        out += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z*`(\[#-])", para) if s.strip()]
    return out


def fixed_outcome_sentences(page: Path) -> list[str]:
    bad = []
    for s in sentences(page.read_text()):
        if not OUTCOME.search(s) or "{glue" in s or ATTRIBUTED.search(s) or s.lstrip().startswith(">"):
            continue
        if any(page.name == p and s.lstrip("-#0123456789. ").startswith(start.lstrip("-#0123456789. "))
               for p, start in EXEMPT):
            continue
        bad.append(s)
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_fixed_sentence_states_an_outcome(page):
    bad = fixed_outcome_sentences(page)
    assert not bad, "fixed sentences stating an outcome (glue them, or word them as the paper's claim):\n" + \
        "\n".join(f"  {page.name}: {s[:160]}" for s in bad)


def test_the_check_fails_on_a_planted_sentence(tmp_path):
    page = tmp_path / "planted.md"
    page.write_text("# A chapter\n\nSome intro. Label smoothing tightens the clusters on this profile.\n\n"
                    "```{code-cell} ipython3\nx = 'hurts'\n```\n\nThe smoothed teacher is {glue:md}`word` here.\n")
    assert fixed_outcome_sentences(page) == ["Label smoothing tightens the clusters on this profile."]


def test_every_exemption_still_matches_a_sentence():
    for page_name, start in EXEMPT:
        page = next(p for p in PAGES if p.name == page_name)
        assert any(s.lstrip("-#0123456789. ").startswith(start.lstrip("-#0123456789. ")) for s in sentences(page.read_text())), \
            (page_name, start)
