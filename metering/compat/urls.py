"""``/compat/<vendor>/...``: the paths each vendor's SDK appends to the base URL it is given."""

from django.urls import path

from metering.compat import lago, metronome, openmeter, orb

urlpatterns = [
    path("lago/api/v1/events", lago.LagoEventCreate.as_view(), name="compat-lago-event"),
    path("lago/api/v1/events/batch", lago.LagoEventBatch.as_view(), name="compat-lago-batch"),
    path(
        "openmeter/api/v1/events",
        openmeter.OpenMeterEvents.as_view(),
        name="compat-openmeter-events",
    ),
    path("orb/v1/ingest", orb.OrbIngest.as_view(), name="compat-orb-ingest"),
    path("orb/ingest", orb.OrbIngest.as_view(), name="compat-orb-ingest-short"),
    path(
        "metronome/v1/ingest", metronome.MetronomeIngest.as_view(), name="compat-metronome-ingest"
    ),
]
