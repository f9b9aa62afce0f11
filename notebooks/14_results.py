# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   radgazegen:
#     upstream: [08_table1_fid, 09_table2_controllability, 10_table3_classification, 11_table4_long_tail, 12_table5_ablation, 13_gaze_localisation]
# ---

# %% [markdown]
# # Results: the paper's Tables 1-5 beside this run, and its claims checked
#
# **Overview.** This chapter gathers what chapters 08-13 computed in this run (read from
# `results/`, never typed) and puts the values printed by
# {cite:t}`bhattacharya2024radgazegen` beside them (from `radgazegen/core/paper_values.yaml`).
# Then each of the paper's claims is checked twice: on the paper's own numbers (does the
# table support the text?) and on this run's.
#
# **How to read it.** A claim's **verdict** is read from 95% intervals over the test
# findings and seeds: *supported* only when each difference it needs excludes zero in its
# favour. The point estimates (the cells' means) are described beside it, never as a verdict.
# A verdict is only as strong as the profile: in `smoke` the models are tiny and barely trained
# and every test set has a handful of items, so its verdicts are wiring checks; `lesson` and
# `teach` test the claims against the cohort's ground truth with several seeds; only `full`
# speaks to the paper's numbers. Each profile runs only some chapters, so the section "Every
# claim, from the richest run that checked it" shows per claim the verdict of the richest
# profile (full, then teach, lesson, smoke) whose run computed it, from the claims ledgers
# committed beside the book's chapters.
#
# **Prerequisites.** Chapters 08-13.

# %% tags=["parameters"]
profile: str = "smoke"  # parameter profile this run belongs to (set by the runner)
run_dir: str = "runs/smoke"  # folder of this profile's artifacts (set by the runner)

# %%
from IPython.display import HTML, Markdown, display

from radgazegen.metrics import deviations, evaluation, ledger, paper_claims, results_summary
from radgazegen.core.artifacts import Run
from radgazegen.figures.book import column_parts, comparison_table, glue, profile_banner
from radgazegen.core.paper import paper_table

run = Run(run_dir)
display(profile_banner(profile))
tables = results_summary.PAPER_TABLES  # table -> its title
results = ledger.check_run(run)  # every results table of this run, and the claims checked on them with their evidence
ours, spread, info, missing = results.ours, results.spread, results.info, results.missing
if missing:  # e.g. the lesson profile, which runs the gaze claim's chapters and Tables 2 and 5 in part
    print(f"not computed in this run ({profile} profile; their chapters were not run): {', '.join(missing)}")

# %% [markdown]
# ## The five tables

# %%
if not set(tables) & set(ours):
    display(Markdown(f"None of the five tables was computed in this run ({profile} profile): the verdicts of the runs "
                     "that computed them are under \"Every claim, from the richest run that checked it\" below."))
for t, title in tables.items():
    if t not in ours:
        continue
    meta = ", ".join(f"{k}: {v}" for k, v in info[t].items() if k not in ("profile", "availability"))
    display(Markdown(f"### {title}\n\nThis run ({profile}; {meta}); paper: {paper_table(t).attrs['source']}."))
    for part in column_parts(evaluation.paper_beside(run, t, ours[t], profile).round(4)):  # Table 3: in two
        display(part)
    if info[t].get("replicates", 1) > 1:
        for part in column_parts(evaluation.mean_std(ours[t], spread[t])):
            display(part)

# %% [markdown]
# ## The gaze claim on the cohort's ground truth
# Not a table of the paper: the pointing-game hit rate of each method's generated findings
# against the box behind the gaze (chapter 13).

# %%
if "localisation" in ours:
    display(evaluation.mean_std(ours["localisation"], spread["localisation"], 3))
else:
    print("not available in this run (real data has no lesion ground truth)")

# %% [markdown]
# ## The primary test: does the finding change lungs with the gaze?
# Chapter 13's decisive test of the central claim: focal findings, prompts without place words,
# HVA-CN trained as Eq. 5 writes it, the gaze mirrored into the other lung. The share of images
# with the finding in the gazed lung (SD: 0.5 by construction), the ceiling (the true
# counterfactual), the oracle and the floors; and the verdict of the rule chapter 13 states
# before its numbers (supported / refuted at this scale / undecided).

# %%
if "mirrored_gaze" in ours:
    display(ours["mirrored_gaze"].round(3))
    display(Markdown(f"Verdict by chapter 13's rule ({profile} profile, {info['mirrored_gaze'].get('n_items')} findings × "
                     f"{info['mirrored_gaze'].get('replicates')} seeds): **{info['mirrored_gaze'].get('verdict', '(not recorded)')}**."))
else:
    print("not in this run (mirrored_seeds = 0 in chapter 13, too few focal findings, or no ground truth)")

# %% [markdown]
# ## Moved gaze: does the finding follow the gaze?
# Chapter 13's counterfactual: prompts without place words, radiomics controls of a
# finding-free image, the gaze moved onto another finding's box. Hit rates in the gazed box,
# in the original box and in a shuffled item's gazed box (the baseline), means over findings
# and seeds; chapter 13 gives their 95% intervals and the paired comparisons.

# %%
if "moved_gaze" in ours:
    display(ours["moved_gaze"].round(3))
else:
    print("not in this run (moved_gaze_seeds = 0 in chapter 13, or no ground truth)")

# %% [markdown]
# ## The paper's claims: this run's verdicts
# One row per claim this run's tables can check. The verdict comes from the claim's 95%
# intervals ({eq}`eq-14-bootstrap`, below). The next column only describes this run's point
# estimates (the cells' means): whether they point the way the claim says, with the numbers; a
# direction inside the intervals' noise is not evidence. The last column applies the same
# check to the paper's own printed numbers: does the paper's table show what its text says?

# %%
claims_on_paper = paper_claims.claims({t: evaluation.paper_as_ours(t) for t in tables}).set_index("claim")
run_claims = results.claims.set_index("claim")
summary = results_summary.claims_summary(run_claims, claims_on_paper, profile)
summary

# %% [markdown]
# A claim is **supported** only when the paired bootstrap interval {cite}`efron1979bootstrap`
# of each difference it needs excludes zero in the claim's favour. For two methods $A$ and $B$
# scored on the same test items and seeds, each of $b = 1, \dots, B$ resamples draws the
# items and the seeds with replacement, the same draw for both methods, and recomputes the
# difference of the cells' statistics (a mean, an AUC, a group accuracy, or FID from the
# resampled features):
#
# $$
# \begin{gathered}
# \Delta^{(b)} = m_A\big(\mathcal{S}^{(b)}\big) - m_B\big(\mathcal{S}^{(b)}\big),\\
# \mathrm{CI}_{95\%} = \left[ q_{0.025}\big(\Delta^{(1..B)}\big),\ q_{0.975}\big(\Delta^{(1..B)}\big) \right],
# \end{gathered}
# $$ (eq-14-bootstrap)
#
# with $B$ = {glue:text}`n_boot` ({glue:text}`n_boot_fid` for FID, whose recomputation is
# slow). A difference whose interval contains zero is not evidence either way. Every table
# chapter (08-13) saves what its cells are computed from, per test item and seed: each item's
# features (FID, recomputed on the resample), SSIM, PSNR, IoU, CLIP score or pointing-game hit,
# and the classifiers' outputs on each test image (Table 3's AUC and Table 4's accuracies,
# recomputed on the resample). Table 4 trains one classifier per augmentation method, so its
# intervals cover the test images, not the classifier's training seed.

# %%
shown = run_claims[run_claims["intervals"].astype(bool)]
for k, (claim, row) in enumerate(shown.iterrows()):
    display(Markdown(f"**{claim}** ({profile} profile: {ledger.verdict(row['supported'], row['holds'])}). Each row: the "
                     "first cell minus the second, each named by its row and column, with the difference's 95% interval "
                     "over findings and seeds."))
    # fixed ids: the same run renders the same page
    table = comparison_table(row["comparisons"]).style.hide(axis="index").set_uuid(f"claim{k}")
    display(HTML(table.to_html()))

# %% [markdown]
# ## Every claim, from the richest run that checked it
# A profile runs only some chapters: `lesson` the gaze claim's, `smoke` every table on tiny
# models. Each imported run leaves a **claims ledger** beside its committed chapters
# (`book/<profile>/claims.json`: per claim its verdict, its comparisons with their differences
# and 95% intervals, the findings × seeds and the run's commit), computed from that run's
# results and evidence by the same functions as this chapter. The table below gives, per claim,
# the verdict of the richest profile (full, then teach, lesson, smoke) whose ledger decides it,
# this run standing for its own profile; the folded boxes list each verdict's comparisons. It
# is rendered again from the committed ledgers whenever the book is built, so a published
# page shows the ledgers committed at that time.

# %%
done, commit = ledger.chapter_commits(run.dir / "progress.log")  # the study commit of each chapter's run, and this one's
own = ledger.of_run(results, profile, done, commit)
glue("claims_ledger", ledger.ledger_text(own))  # this run's ledger, kept in the page (make teach-import reads it)

# %% tags=["claims-best-verdicts"]
display(Markdown(ledger.best_verdicts_markdown(ledger.book_ledgers(own), profile)))

# %% [markdown]
# ## Where this study departs from the paper
# Generated from the parameters this run's chapters ran with (each executed chapter's
# parameters cell and the values the runner gave it), each beside the paper's value (§4.1) or
# the authors' released sampler's; each chapter states its own deviations as well. A verdict
# is read from the intervals of {eq}`eq-14-bootstrap` over this run's test items and seeds only.

# %%
departures = deviations.deviations(deviations.run_parameters(run.dir))
display(Markdown("\n".join(f"- **{where}.** {text}" for where, text in departures)
                 or "No parameter record of this run's chapters was found."))

# %%
# the profile's statement of what its verdicts can say, and the counts of the paragraph below
for name, value in results_summary.page_values(profile, ours, info, run_claims, claims_on_paper, tables).items():
    glue(name, value)

# %% [markdown]
# ## What this run shows
# This {glue:text}`profile` run computed {glue:text}`n_tables` of the paper's
# {glue:text}`n_paper_tables` tables and checked {glue:text}`n_claims` claims. **Verdicts:**
# {glue:text}`n_supported` of the {glue:text}`n_with_intervals` claims with intervals are
# supported by {eq}`eq-14-bootstrap` (up to {glue:text}`n_replicates` seed replicate(s) per
# method). The point estimates point the way the claim says for {glue:text}`n_hold_run` of
# {glue:text}`n_checkable_run` checkable claims: a description of this run's means, not a
# verdict. On the paper's own printed numbers, {glue:text}`n_hold_paper` of the
# {glue:text}`n_claims_paper` claims that its tables can check point the way its text says.
#
# ## What it cannot show
# {glue:text}`profile_statement` A claim whose point estimates point its way but whose
# intervals contain zero is within this run's noise; a claim that is supported holds for these
# test items and seeds, not for another cohort or the real datasets.
