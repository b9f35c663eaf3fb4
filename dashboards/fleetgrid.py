"""The fleet overview as a grid of reactor cards that opens a reactor when one is clicked.

The cards are HTML built in Python (:func:`dashboards.widgets.overview_html`); this
component only draws them and reports a click on a card, so what a card says stays
testable without a browser. A click is a message rather than a parameter change, so
clicking the reactor already chosen still opens it (after the page scrolled away).

>>> grid = FleetGrid(cards="<div class='fleet'></div>")
>>> opened = []
>>> grid.on_open(opened.append)
>>> grid._handle_msg({"reactor": "R07"})
>>> opened
['R07']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import param
from panel.custom import JSComponent

from dashboards.widgets import STYLESHEET


class FleetGrid(JSComponent):
    """Reactor cards; ``cards`` is their HTML, each card carrying ``data-reactor``."""

    cards = param.String(default="", doc="HTML of the cards (escaped by its builder).")

    _esm = """
    export function render({ model, el }) {
      const draw = () => { el.innerHTML = model.cards; };
      el.addEventListener("click", (event) => {
        const card = event.target.closest("[data-reactor]");
        if (card) { model.send_msg({ reactor: card.dataset.reactor }); }
      });
      model.on("cards", draw);
      draw();
    }
    """
    _stylesheets: ClassVar[list[str]] = [STYLESHEET]

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)  # type: ignore[no-untyped-call]  # Panel's own __init__ is unannotated
        self._listeners: list[Callable[[str], None]] = []

    def on_open(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(reactor_id)`` whenever a card is clicked."""
        self._listeners.append(listener)

    def _handle_msg(self, msg: Any) -> None:
        reactor = msg.get("reactor") if isinstance(msg, dict) else None
        if isinstance(reactor, str):
            for listener in self._listeners:
                listener(reactor)
