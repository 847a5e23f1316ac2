""""1 knockout · Restore": shown wherever a view draws the network as it runs now.

Knockouts are session state: the maps, the top-5, the graph and the unit views all show the
knocked-out network. This badge says so beside them and gives the one click that switches
everything back on (the Knockout pane lists and undoes them one by one).
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from explorer.explain.knockout_view import count_text
from explorer.session import Session
from explorer.ui.subscriptions import Subscriptions


class KnockoutBadge(QWidget):
    """Hidden while nothing is knocked out; else "N knockouts" and a Restore button."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.label = QLabel()
        self.label.setStyleSheet("QLabel { color: #b3261e; font-weight: bold; }")
        self.restore = QPushButton("Restore")
        self.restore.setToolTip("Switch every knocked-out part back on")
        self.restore.clicked.connect(lambda: self.session.set_knockouts(()))
        layout.addWidget(self.label)
        layout.addWidget(self.restore)
        self._subscriptions = Subscriptions(self)
        self._subscriptions.connect(session.knockouts_changed, self._update)
        self._subscriptions.connect(session.model_changed, lambda s, _change: self._update(s))
        self._update(session)

    def _update(self, session: Session) -> None:
        specs = session.knockouts
        self.label.setText(count_text(len(specs)))
        self.label.setToolTip("Knocked out now:\n" + "\n".join(specs) if specs else "")
        self.setVisible(bool(specs))
