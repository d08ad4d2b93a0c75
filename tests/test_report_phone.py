"""The report on a phone and on a desktop (issue 23): nothing scrolls sideways but a wide table
inside its own card, definitions stack label over value, the forecast chart has a narrow variant.

The page is the fullest one: the evening's sections and the pre-open section filled (the world of
tests/test_report_preopen.py). Screenshots at both widths land in the test's tmp dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from taiex.kinds import KindSpec
from taiex.report.page import write_report
from tests.browser import PHONE, Chromium
from tests.test_report import PNG_MAGIC, World, chromium_or_skip
from tests.test_report_preopen import serve_preopen, signalling, store_closes, world

__all__ = ["signalling", "world"]  # the fixtures, used by name

DESKTOP = 1280

# Every box that must not be wider inside than it is: the sections, the cards, the figures, the
# definition list and the wrappers a table may scroll in (the wrapper, not its table).
LAYOUT = """(() => {
    const root = document.documentElement;
    const name = (el) => el.id ? '#' + el.id
        : el.tagName.toLowerCase() + (el.className ? '.' + el.className.split(' ')[0] : '');
    const boxes = [...document.querySelectorAll(
        'main, header, section, .card, .cards, figure, dl, dd, dt, p, h2, h3, footer')];
    const wrappers = [...document.querySelectorAll('.table-scroll')];
    const edge = (el) => el.getBoundingClientRect();
    const inside = (el) => {
        const box = edge(el), card = edge(el.closest('section'));
        return box.left >= card.left - 0.5 && box.right <= card.right + 0.5;
    };
    const forecast = document.querySelector('#tomorrow figure img');
    const dt = [...document.querySelectorAll('#freshness dt')].map(edge);
    const dd = [...document.querySelectorAll('#freshness dd')].map(edge);
    return {
        page: [root.scrollWidth, root.clientWidth],
        overflowing: boxes.filter(el => el.scrollWidth > el.clientWidth)
            .map(el => [name(el), el.scrollWidth, el.clientWidth]),
        bare: [...document.querySelectorAll('table')]
            .filter(t => !t.parentElement.classList.contains('table-scroll')).map(name),
        outside: wrappers.filter(w => !inside(w)).map(w => name(w.querySelector('table'))),
        scrolling: wrappers.filter(w => w.scrollWidth > w.clientWidth)
            .map(w => name(w.querySelector('table'))),
        champions: [...document.querySelectorAll('.champions td.reading')]
            .filter(td => !inside(td)).length,
        forecast: [forecast.naturalWidth, forecast.naturalHeight,
                   forecast.currentSrc === forecast.src, edge(forecast).width],
        images: [...document.images].map(i => [i.complete, i.naturalWidth, edge(i).width,
                                               edge(i.closest('section')).width]),
        definitions: dt.map((label, i) => [label.left, label.width, dd[i].left, dd[i].width,
                                            dd[i].top >= label.bottom - 0.5]),
    };
})()"""


@pytest.mark.browser
def test_the_page_fits_a_phone_and_a_desktop(
    world: World, signalling: KindSpec, tmp_path: Path
) -> None:
    executable = chromium_or_skip()
    store_closes(world)
    serve_preopen(world)
    path = Path(write_report(world.store, world.settings, now=world.now))
    layout: dict[int, Any] = {}
    with Chromium(executable, profile=tmp_path / "profile") as browser:
        browser.open(path.as_uri(), width=PHONE)
        for width in (PHONE, DESKTOP):
            browser.resize(width)
            layout[width] = browser.evaluate(LAYOUT)
            shot = browser.screenshot(tmp_path / f"report-{width}.png")
            assert shot.read_bytes()[:8] == PNG_MAGIC
    assert browser.errors == [], browser.errors
    for width, seen in layout.items():
        scroll, client = seen["page"]
        assert client == width and scroll <= client, (width, seen["page"])
        assert seen["overflowing"] == [], (width, seen["overflowing"])
        assert seen["bare"] == [] and seen["outside"] == [], (width, seen)
        assert seen["champions"] == 0  # the "In short" lines are read without scrolling
        for done, natural, shown, section in seen["images"]:
            assert done and natural > 0 and shown <= section
    phone, desktop = layout[PHONE], layout[DESKTOP]
    # On a phone only the number tables may scroll inside their cards; the champions stack.
    assert not any("champions" in name for name in phone["scrolling"]), phone["scrolling"]
    assert desktop["scrolling"] == []
    # The forecast chart: the narrow (square) variant on the phone, the wide one on a desktop.
    natural_width, natural_height, wide, shown = phone["forecast"]
    assert not wide and natural_width == natural_height and shown < PHONE
    natural_width, natural_height, wide, _ = desktop["forecast"]
    assert wide and (natural_width, natural_height) == (1000, 560)
    # Definitions: label over value on the phone (the value as wide as the label's line), side
    # by side on a desktop.
    for label_left, label_width, value_left, value_width, below in phone["definitions"]:
        assert below and value_left == label_left and value_width >= label_width
    for label_left, _, value_left, _, below in desktop["definitions"]:
        assert not below and value_left > label_left
