"""The win/loss reports of domain.md section 6, one pure function a report over plain data."""
from matcher.reports.close_rate import close_rate
from matcher.reports.contact_sequence import contact_sequence
from matcher.reports.content import content
from matcher.reports.follow_up import follow_up
from matcher.reports.funnel import funnel
from matcher.reports.gone_dark import gone_dark
from matcher.reports.loss_reasons import loss_reasons
from matcher.reports.mqa_volume import mqa_volume
from matcher.reports.never_responded import never_responded
from matcher.reports.stage_conversion import stage_conversion
from matcher.reports.velocity import velocity

NAMES = ("velocity", "close-rate", "stage-conversion", "gone-dark", "never-responded", "content", "loss-reasons",
         "contact-sequence", "follow-up", "mqa-volume", "funnel")

__all__ = ["NAMES", "close_rate", "contact_sequence", "content", "follow_up", "funnel", "gone_dark", "loss_reasons",
           "mqa_volume", "never_responded", "stage_conversion", "velocity"]
