"""Medications x aspects: a retrieval task where generic similarity is wrong in a known way.

Every fictional drug has one passage per aspect (side effects, indications, dosage, interactions,
contraindications). A question about a drug's side effects must find *that* passage, not the
indications passage of the same drug. Questions are paraphrased so that word overlap with the
passage does not give the aspect away: a generic embedding model matches the drug name and picks
any of its passages; a model fine-tuned on the training drugs learns what each kind of question
asks for. Train and test are split **by drug**, so the test measures generalisation to drugs the
model never saw, not memorisation.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from flywheel._internal.io import atomic_open

_SYLLABLES = [
    "zor",
    "va",
    "tin",
    "mel",
    "ox",
    "pra",
    "dil",
    "nex",
    "ca",
    "lor",
    "fen",
    "tri",
    "bu",
    "sar",
    "ki",
    "mo",
    "ren",
    "tal",
    "quin",
    "este",
    "dro",
    "pex",
    "li",
    "vo",
]
_SUFFIXES = ["mab", "pril", "statin", "olol", "azole", "cillin", "dronate", "setron", "vir", "tide"]

_CONDITIONS = [
    "high blood pressure",
    "migraine attacks",
    "type 2 diabetes",
    "chronic asthma",
    "rheumatoid arthritis",
    "acid reflux",
    "seasonal allergies",
    "insomnia",
    "generalised anxiety",
    "high cholesterol",
    "gout flares",
    "urinary infections",
    "osteoporosis",
    "nerve pain",
    "psoriasis",
    "motion sickness",
]
_REACTIONS = [
    "nausea",
    "dizziness",
    "a dry mouth",
    "headache",
    "drowsiness",
    "skin rash",
    "blurred vision",
    "muscle cramps",
    "constipation",
    "a metallic taste",
    "ringing in the ears",
    "swollen ankles",
    "hair thinning",
    "vivid dreams",
]
_PARTNERS = [
    "warfarin",
    "grapefruit juice",
    "alcohol",
    "St John's wort",
    "lithium",
    "antacids",
    "ibuprofen",
    "digoxin",
    "oral contraceptives",
    "clarithromycin",
]
_GROUPS = [
    "pregnant women",
    "people with severe kidney disease",
    "children under twelve",
    "patients with liver failure",
    "anyone with a history of stomach ulcers",
    "people with heart rhythm disorders",
    "breastfeeding mothers",
    "the very elderly",
]

_PASSAGES = {
    "side_effects": [
        "{drug}: in clinical trials the most frequently reported adverse reactions were {r1} and "
        "{r2}; fewer than one in a hundred participants developed {r3}.",
        "Adverse reactions to {drug} are usually mild. Reported complaints include {r1}, {r2} and, "
        "rarely, {r3}, which tend to fade within two weeks.",
        "Patients taking {drug} sometimes experience {r1} or {r2}; {r3} has been described in "
        "isolated case reports.",
    ],
    "indications": [
        "{drug} is approved for the treatment of {c1} in adults and as an add-on therapy for "
        "{c2} when first-line options have failed.",
        "Clinicians use {drug} to manage {c1}; it is also licensed for {c2}.",
        "{drug} is prescribed mainly for {c1}, and specialists may add it for {c2}.",
    ],
    "dosage": [
        "{drug} regimen: start with {d1} mg once daily, increasing to {d2} mg after {w} weeks; "
        "do not exceed {d3} mg within 24 hours.",
        "The usual adult amount of {drug} is {d1} mg every {h} hours with food; the ceiling is "
        "{d3} mg per day.",
        "Adults take {d1} mg of {drug} at breakfast; after {w} weeks this may rise to {d2} mg, "
        "and {d3} mg a day is the maximum.",
    ],
    "interactions": [
        "Combining {drug} with {p1} raises blood levels markedly; use alongside {p2} also "
        "requires monitoring.",
        "{drug} should be spaced at least four hours from {p1}, and co-administration with {p2} "
        "is best avoided.",
        "Taken together with {p1}, {drug} can become toxic; {p2} weakens its effect.",
    ],
    "contraindications": [
        "{drug} must not be given to {g1} or to {g2}.",
        "Do not prescribe {drug} for {g1}; caution is needed in {g2}.",
        "{drug} is ruled out for {g1}, and {g2} should avoid it as well.",
    ],
}

_QUESTIONS = {
    "side_effects": [
        "What unwanted problems might I notice after starting {drug}?",
        "Does {drug} make people feel unwell in any way?",
        "Which bad reactions has {drug} been linked to?",
        "Could {drug} give me any trouble while I am on it?",
        "What downsides do users of {drug} report?",
    ],
    "indications": [
        "What illness is {drug} meant to fix?",
        "Why would a doctor hand me a prescription for {drug}?",
        "Which health problems does {drug} help with?",
        "What is {drug} actually for?",
        "For which condition would someone be put on {drug}?",
    ],
    "dosage": [
        "How many milligrams of {drug} should I swallow and how often?",
        "What is the right amount of {drug} per day?",
        "How should I schedule my {drug} pills?",
        "How much {drug} can I take at most?",
        "When and how much {drug} do I take?",
    ],
    "interactions": [
        "Is it safe to mix {drug} with other medicines or drinks?",
        "What should I not combine with {drug}?",
        "Can {drug} clash with other things I take?",
        "Will my other pills cause problems alongside {drug}?",
        "Is there anything I should keep apart from {drug}?",
    ],
    "contraindications": [
        "Who is not allowed to use {drug}?",
        "Is {drug} unsafe for some kinds of patients?",
        "Which people should stay away from {drug}?",
        "Am I in a group that must never be given {drug}?",
        "Who should be refused {drug}?",
    ],
}
# Training drugs are asked with the first three phrasings and described with the first two
# passage templates; dev and test drugs get the held-out ones. A model that only memorised the
# training wording gains nothing on test: the lift has to come from learning what each kind of
# question asks for.
TRAIN_QUESTIONS = 3
TRAIN_PASSAGES = 2
QUESTIONS_PER_PASSAGE = 3

ASPECTS = tuple(_PASSAGES)


def _drug_names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        stem = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice([2, 3])))
        names.add((stem + rng.choice(_SUFFIXES)).capitalize())
    return sorted(names)


def _passage(rng: random.Random, aspect: str, drug: str, *, held_out: bool) -> str:
    templates = _PASSAGES[aspect]
    template = rng.choice(templates[TRAIN_PASSAGES:] if held_out else templates[:TRAIN_PASSAGES])
    r = rng.sample(_REACTIONS, 3)
    c = rng.sample(_CONDITIONS, 2)
    p = rng.sample(_PARTNERS, 2)
    g = rng.sample(_GROUPS, 2)
    d1 = rng.choice([5, 10, 20, 25, 50])
    return template.format(
        drug=drug,
        r1=r[0],
        r2=r[1],
        r3=r[2],
        c1=c[0],
        c2=c[1],
        p1=p[0],
        p2=p[1],
        g1=g[0],
        g2=g[1],
        d1=d1,
        d2=d1 * 2,
        d3=d1 * 4,
        w=rng.choice([2, 3, 4]),
        h=rng.choice([8, 12]),
    )


def generate_medications(
    out_dir: str | Path,
    *,
    n_drugs: int = 80,
    test_fraction: float = 0.3,
    dev_fraction: float = 0.15,
    seed: int = 0,
) -> Path:
    """Write the dataset in BEIR layout (corpus.jsonl, queries.jsonl, qrels/train|dev|test.tsv).

    ``n_drugs`` x 5 passages; 3 questions per passage. Drugs, not questions, are split between
    train, dev and test, so dev - like test - asks about drugs training never saw, in phrasings
    and passage wordings training never saw either.
    Deterministic for a seed; files are written atomically.
    """
    rng = random.Random(seed)
    out = Path(out_dir)
    drugs = _drug_names(rng, n_drugs)
    shuffled = rng.sample(drugs, len(drugs))
    n_test = max(1, round(n_drugs * test_fraction))
    n_dev = max(1, round(n_drugs * dev_fraction))
    split_of = {d: "test" for d in shuffled[:n_test]}
    split_of.update({d: "dev" for d in shuffled[n_test : n_test + n_dev]})
    corpus, queries, qrels = [], [], {"train": [], "dev": [], "test": []}
    for drug in drugs:
        split = split_of.get(drug, "train")
        held_out = split != "train"
        for aspect in ASPECTS:
            doc_id = f"{drug.lower()}-{aspect}"
            text = _passage(rng, aspect, drug, held_out=held_out)
            corpus.append({"_id": doc_id, "title": drug, "text": text})
            phrasings = _QUESTIONS[aspect]
            if held_out:  # the two unseen phrasings plus one seen one, three per passage
                chosen = [*phrasings[TRAIN_QUESTIONS:], rng.choice(phrasings[:TRAIN_QUESTIONS])]
            else:
                chosen = phrasings[:TRAIN_QUESTIONS]
            for n, template in enumerate(chosen[:QUESTIONS_PER_PASSAGE]):
                qid = f"{doc_id}-q{n}"
                queries.append({"_id": qid, "text": template.format(drug=drug)})
                qrels[split].append((qid, doc_id, 1))
    rng.shuffle(corpus)
    with atomic_open(out / "corpus.jsonl") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in corpus)
    with atomic_open(out / "queries.jsonl") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in queries)
    for split, rows in qrels.items():
        with atomic_open(out / "qrels" / f"{split}.tsv") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["query-id", "corpus-id", "score"])
            writer.writerows(rows)
    return out
