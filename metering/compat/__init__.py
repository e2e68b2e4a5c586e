"""Drop-in ingestion for teams moving from Lago, OpenMeter, Orb or Metronome.

Each vendor module accepts that vendor's wire format at ``/compat/<vendor>/...``, translates
every event into Tally's wire format and feeds ``metering.services.events_ingest`` (same
dedup, attribution, limits and outcomes as ``POST /api/v1/events``), then answers in the
vendor's success and error shapes so the vendor's own SDK reports outcomes sensibly.

Event ids live in a namespace per vendor (``lago``, ``orb``, ``metronome``; for CloudEvents
``openmeter:<source>``), so a vendor id never collides with a native Tally id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def translator(vendor: str) -> Callable[[Any], Any]:
    """The function turning one of ``vendor``'s events into a ``Translated`` or ``Refused``
    (replays of refused rows use it; imported lazily, the vendor modules import DRF)."""
    from metering.compat import lago, metronome, openmeter, orb

    translators: dict[str, Callable[[Any], Any]] = {
        lago.VENDOR: lago.lago_event,
        metronome.VENDOR: metronome.metronome_event,
        openmeter.VENDOR: openmeter.cloudevent,
        orb.VENDOR: orb.orb_event,
    }
    return translators[vendor]
