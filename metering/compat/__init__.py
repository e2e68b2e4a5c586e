"""Drop-in ingestion for teams moving from Lago, OpenMeter, Orb or Metronome.

Each vendor module accepts that vendor's wire format at ``/compat/<vendor>/...``, translates
every event into Tally's wire format and feeds ``metering.services.events_ingest`` (same
dedup, attribution, limits and outcomes as ``POST /api/v1/events``), then answers in the
vendor's success and error shapes so the vendor's own SDK reports outcomes sensibly.

Event ids live in a namespace per vendor (``lago``, ``orb``, ``metronome``; for CloudEvents
``openmeter:<source>``), so a vendor id never collides with a native Tally id.
"""
