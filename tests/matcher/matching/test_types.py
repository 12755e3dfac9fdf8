"""The plain records the core works on."""
import pickle

from matcher.matching.types import Lead


def test_a_lead_pickles_to_the_same_lead_field_by_field():
    # match-file sends leads to its matching processes pickled (Lead.__reduce__ lists the
    # fields by hand): every field must come back in its own place
    lead = Lead(email="jane@acme.de", company="ACME GmbH", country="DE", region="Bavaria", city="Munich",
                phone="+49 89 1234567", website="acme.de", first_name="Jane", last_name="Doe",
                title="Head of Procurement")
    back = pickle.loads(pickle.dumps(lead, pickle.HIGHEST_PROTOCOL))
    assert back == lead
    assert (back.email, back.company, back.country, back.region, back.city, back.phone, back.website,
            back.first_name, back.last_name, back.title) == (
        "jane@acme.de", "ACME GmbH", "DE", "Bavaria", "Munich", "+49 89 1234567", "acme.de", "Jane", "Doe",
        "Head of Procurement")
    assert pickle.loads(pickle.dumps(Lead(company="Acme"))) == Lead(company="Acme")
