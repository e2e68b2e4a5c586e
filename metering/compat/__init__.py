"""Drop-in ingestion for teams moving from Lago, OpenMeter, Orb or Metronome.

Each vendor module accepts that vendor's wire format at ``/compat/<vendor>/...``, translates
every event into Tally's wire format and feeds ``metering.services.events_ingest`` (same
dedup, attribution, limits and outcomes as ``POST /api/v1/events``), then answers in the
vendor's success and error shapes so the vendor's own SDK reports outcomes sensibly.

Event ids live in a namespace per vendor (``lago``, ``orb``, ``metronome``; for CloudEvents
``openmeter:<source>``), so a vendor id never collides with a native Tally id.
"""

from __future__ import annotations


def register_translators() -> None:
    """Register each vendor's event translator (``metering.ingest.translators``), from the
    app's ``ready()``: review replays refused vendor events through them."""
    from metering.compat import lago, metronome, openmeter, orb
    from metering.ingest.translators import register_translator

    register_translator(lago.VENDOR, lago.lago_event)
    register_translator(metronome.VENDOR, metronome.metronome_event)
    register_translator(openmeter.VENDOR, openmeter.cloudevent)
    register_translator(orb.VENDOR, orb.orb_event)
