"""What a resolved review teaches (matcher/routing/review.py): each rule by hand, on a small,
hand-written picture of the accounts (``Known``), then once through the index's own lookups."""
from __future__ import annotations

from config import load_matching_rules
from matcher.matching.index import AccountIndex
from matcher.matching.types import Account, Lead
from matcher.normalize import NameNormalizer
from matcher.routing.review import Known, Lesson, lessons

RULES = load_matching_rules()
NAMES = NameNormalizer(RULES.names.legal_forms)

# The accounts, written out: domains, contact domains and name keys (normalised names joined) by hand.
ACCOUNT_NAMES = {"A1": "Acme Corporation", "A9": "Acme Intl Ltd", "B1": "Globex"}
DOMAIN_OWNERS = {"acme.com": ("A1",), "acmeintl.co.uk": ("A9",), "globex.com": ("B1",)}
CONTACT_DOMAIN_USERS = {"globex-mail.com": ("B1",)}
NAME_OWNERS = {"acme": ("A1",), "acmeintl": ("A9",), "globex": ("B1",), "acmecorp": ("A1",)}

KNOWN = Known(domain_owners=lambda d: DOMAIN_OWNERS.get(d, ()),
              contact_domain_users=lambda d: CONTACT_DOMAIN_USERS.get(d, ()),
              name_owners=lambda k: NAME_OWNERS.get(k, ()),
              account_name=ACCOUNT_NAMES.get, names=NAMES, generic=frozenset(RULES.names.generic_words))


def taught(email=None, company=None, account_id="A1"):
    return lessons(Lead(email=email, company=company), account_id, KNOWN)


def test_a_new_spelling_and_a_corporate_domain_are_both_learned():
    assert taught("jane@mail.acme-int.com", "Acme International Trading") == [
        Lesson("alias", "Acme International Trading", True,
               "'Acme International Trading' becomes a name of account A1 (Acme Corporation)"),
        Lesson("domain", "acme-int.com", True, "email domain acme-int.com becomes a domain of account A1 (Acme Corporation)"),
    ]


def test_free_mail_and_disposable_domains_are_refused():
    assert taught("jane@gmail.com") == [
        Lesson("domain", "gmail.com", False, "not learned: gmail.com is free mail, anyone may use it")]
    assert taught("jane@mailinator.com") == [
        Lesson("domain", "mailinator.com", False, "not learned: mailinator.com is a disposable-mail domain")]


def test_a_domain_already_the_accounts_is_not_learned_again():
    assert taught("jane@us.acme.com") == [
        Lesson("domain", "acme.com", False, "not learned: acme.com is already a domain of account A1 (Acme Corporation)")]


def test_another_accounts_domain_is_refused():
    assert taught("jane@globex.com") == [
        Lesson("domain", "globex.com", False, "not learned: globex.com is a domain of account B1 (Globex)")]


def test_a_domain_another_accounts_contacts_use_is_refused():
    assert taught("jane@globex-mail.com") == [
        Lesson("domain", "globex-mail.com", False, "not learned: globex-mail.com is used by contacts of account B1 (Globex)")]


def test_an_email_without_a_usable_domain_teaches_nothing():
    assert taught("not-an-email", None) == []
    assert taught(None, "   ") == []


def test_another_accounts_name_is_refused_whatever_its_legal_form():
    # 'Acme Intl GmbH' normalises to 'acme intl', the name of A9
    assert taught(company="Acme Intl GmbH") == [
        Lesson("alias", "Acme Intl GmbH", False, "not learned: 'Acme Intl GmbH' is also the name of account A9 (Acme Intl Ltd)")]


def test_a_spelling_holding_another_accounts_name_is_refused():
    # 'Zenith (Globex)' holds two names, zenith and globex; globex is B1's
    assert taught(company="Zenith (Globex)") == [
        Lesson("alias", "Zenith (Globex)", False, "not learned: 'Zenith (Globex)' is also the name of account B1 (Globex)")]


def test_a_name_the_account_already_has_is_not_learned_again():
    assert taught(company="ACME Corp.") == [
        Lesson("alias", "ACME Corp.", False, "not learned: 'ACME Corp.' is already a name of account A1 (Acme Corporation)")]


def test_common_words_only_are_refused():
    assert taught(company="Global Solutions Group") == [
        Lesson("alias", "Global Solutions Group", False, "not learned: 'Global Solutions Group' is made of common words only")]


def test_too_short_a_name_is_refused():
    assert taught(company="Q.X. Inc") == [
        Lesson("alias", "Q.X. Inc", False, "not learned: 'Q.X. Inc' is too short to tell companies apart")]


def test_a_company_without_a_word_has_nothing_to_learn():
    assert taught(company="--- !") == [
        Lesson("alias", "--- !", False, "not learned: '--- !' has no name left once legal forms are set aside")]


def test_lessons_through_the_index_lookups():
    index = AccountIndex(RULES)
    index.upsert(Account("A1", "Acme Corporation", ("acme.com",)))
    index.upsert(Account("A9", "Acme Intl Ltd", ("acmeintl.co.uk",), contact_domains=("acme-mail.com",)))
    known = index.known()
    assert lessons(Lead(email="j@acme-mail.com", company="Acme Intl"), "A1", known) == [
        Lesson("alias", "Acme Intl", False, "not learned: 'Acme Intl' is also the name of account A9 (Acme Intl Ltd)"),
        Lesson("domain", "acme-mail.com", False, "not learned: acme-mail.com is used by contacts of account A9 (Acme Intl Ltd)"),
    ]
    assert lessons(Lead(email="j@acmeintl.co.uk", company="Acme Worldwide Holdings"), "A1", known) == [
        Lesson("alias", "Acme Worldwide Holdings", True, "'Acme Worldwide Holdings' becomes a name of account A1 (Acme Corporation)"),
        Lesson("domain", "acmeintl.co.uk", False, "not learned: acmeintl.co.uk is a domain of account A9 (Acme Intl Ltd)"),
    ]
