/* sernet eval: metrics of a results file against its dataset (docs/evaluation.md): the options
 * of sn_eval_run (sernet/eval_run.h) from the command line; the library prints the table. */
#include "cli/cli.h"
#include "sernet/dist.h"
#include "sernet/baseline.h"
#include "sernet/eval_run.h"

#include <mpi.h>
#include <stdio.h>

int sn_cmd_eval(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet eval --results RESULTS.h5 --data DATA.h5 [--json FILE] [--report DIR]\n"
        "                   [--worst K] [--no-write-results] [--store-thresholds [--model M]]\n"
        "                   [--config FILE] [--set key=value]...\n"
        "       sernet eval --baseline sobel --data DATA.h5 [--category NAME] [--results RESULTS.h5]\n"
        "       sernet eval --baseline fixed --results RESULTS.h5 --data DATA.h5\n"
        "Evaluate a complete results file of sernet infer against the ground truth of the dataset\n"
        "it was computed from, on any number of MPI ranks (the output does not depend on it).\n"
        "Prints the metrics table (image AUROC, pixel AUROC, AUPRO up to aupro_max_fpr, pixel AP,\n"
        "F1-optimal image and pixel thresholds, per defect type), and writes them\n"
        "  - as JSON to --json (default: RESULTS without .h5 + _metrics.json),\n"
        "  - into RESULTS.h5 as the group /metrics (copy, add, rename; --no-write-results skips),\n"
        "  - as a report folder --report (default: RESULTS without .h5 + _report): report.md, ROC\n"
        "    and PRO curves as SVG, and PNG panels of the K worst false positives and false\n"
        "    negatives (--worst K, default 5).\n"
        "Undefined metrics (no positives or no negatives) are printed as n/a, null in JSON, NaN\n"
        "in /metrics.\n"
        "--store-thresholds stores the F1-optimal image and pixel thresholds in the model the\n"
        "results file names (or --model M, which must have the results file's fingerprint), where\n"
        "`sernet score` applies them (docs/inspection.md). They are tuned on this labelled set: a\n"
        "test set used for them is no longer a fair test of them.\n"
        "--baseline KIND evaluates a training-free map by the same code instead (table; JSON only\n"
        "with --json; no report, the results file untouched): sobel = 21x21 box mean (box_size) of\n"
        "the grey image's Sobel gradient magnitude, score its max; fixed = the mean map of the\n"
        "results file's good test images, one map for every image. A SeRNet figure is evidence\n"
        "only where it clearly beats both (docs/quality.md).\n";
    sn_cli_config_args ca = {0};
    sn_eval_options eo = {0};
    sn_evaluate_options *o = &eo.what;
    o->worst = 5;
    int pos = 0;
    const char *baseline = NULL, *model = NULL;
    int store = 0;
    const sn_cli_opt opts[] = {{"store-thresholds", SN_OPT_FLAG, &store, 0, 0},
                               {"model", SN_OPT_STR, &model, 0, 0},
                               {"results", SN_OPT_STR, &o->results, 0, 0},
                               {"data", SN_OPT_STR, &o->data, 0, 0},
                               {"json", SN_OPT_STR, &o->json, 0, 0},
                               {"report", SN_OPT_STR, &o->report, 0, 0},
                               {"worst", SN_OPT_INT, &o->worst, 0, 1000000},
                               {"no-write-results", SN_OPT_FLAG, &o->no_write_results, 0, 0},
                               {"baseline", SN_OPT_STR, &baseline, 0, 0},
                               {"category", SN_OPT_STR, &o->category, 0, 0},
                               SN_OPT_END};
    int prc = sn_cli_parse("eval", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos < argc)
        return sn_cli_usage_error("eval", usage, "unexpected argument '%s'", argv[pos]);
    if (baseline && (o->baseline = sn_baseline_parse(baseline)) < 0)
        return sn_cli_usage_error("eval", usage, "--baseline must be sobel or fixed, got '%s'", baseline);
    if (!o->data || (!o->results && o->baseline != SN_BASELINE_SOBEL))
        return sn_cli_usage_error("eval", usage, o->baseline == SN_BASELINE_FIXED
                                  ? "--baseline fixed needs --results and --data"
                                  : "--results and --data are required");
    if (o->category && o->results)
        return sn_cli_usage_error("eval", usage, "--category is for --baseline sobel without "
                                  "--results (a results file names its category)");
    if (model && !store)
        return sn_cli_usage_error("eval", usage, "--model is for --store-thresholds");
    if (store && o->baseline != SN_BASELINE_NONE)
        return sn_cli_usage_error("eval", usage, "--store-thresholds stores SeRNet's thresholds, not a baseline's");
    if (store)
        o->store_thresholds = model ? model : "";
    sn_config cfg;
    sn_eval_summary sum;
    eo.cfg = &cfg;
    sn_status status = sn_dist_agree(sn_cli_config_resolve(&ca, &cfg), MPI_COMM_WORLD);
    if (status == SN_OK)
        status = sn_eval_run(&eo, MPI_COMM_WORLD, &sum);
    return status == SN_OK ? SN_EXIT_OK : sn_cli_fail("eval");
}
