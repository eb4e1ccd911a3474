/* The application layer without the CLI (issue 16 item 2): every stage's run function called from
 * C. synth -> pseudo sheets, and synth -> train -> infer -> eval -> export, on a tiny synthetic set
 * (S = 32); ingest of both folder layouts (skipping a bad file, tiling, and the errors that name
 * what is wrong); score (items handed over in input order from several jobs, failures counted,
 * map files named and written, scores equal to the inspection API's) and calibrate (from good
 * images and as given numbers, then applied by score). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* the fixture's ingest-reference helpers */
#include "dataset_fixture.h"
#pragma GCC diagnostic pop
#include "sernet/config.h"
#include "sernet/dataset.h"
#include "sernet/eval_run.h"
#include "sernet/export.h"
#include "sernet/ingest.h"
#include "sernet/inspect.h"
#include "sernet/pseudo_sheets.h"
#include "sernet/results.h"
#include "sernet/score.h"
#include "sernet/synth_run.h"
#include "sernet/threads.h"
#include "sernet/tile.h"
#include "sernet/train.h"
#include "sn_test.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S 32

static char tmp[256];

static void config(sn_config *cfg, const char *const *sets, int n)
{
    sn_config_defaults(cfg);
    for (int i = 0; i < n; i++)
        EXPECT_MSG(sn_config_set(cfg, sets[i], "test") == SN_OK, "%s: %s", sets[i], sn_err_msg());
    EXPECT_MSG(sn_config_validate(cfg) == SN_OK, "config: %s", sn_err_msg());
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void expect_error(sn_status st, const char *what, const char *needle)
{
    EXPECT_MSG(st != SN_OK && strstr(sn_err_msg(), needle), "%s: status %d, message '%s' lacks '%s'",
               what, (int)st, sn_err_msg(), needle);
    sn_err_clear();
}

/* ---- synth -> pseudo sheets, train -> infer -> eval -> export -------------------------------- */

static void count_sheet(void *ctx, const sn_pseudo_sheet *sh)
{
    int *n = ctx;
    *n += access(sh->path, F_OK) == 0 && sh->size == S && sh->info && sh->image_name[0];
}

static void check_pipeline(const char *data, const char *model)
{
    static const char *const tiny[] = {"image_size=32", "seg_width=4", "rec_width=4", "large_area=0.08",
                                       "small_area=0.04", "epochs_seg=1", "epochs_rec=1",
                                       "calib_samples=16", "seed=3", "threads=1"};
    sn_config cfg;
    config(&cfg, tiny, (int)(sizeof tiny / sizeof *tiny));
    char preview[300], results[300], json[300], report[300], panels[300];
    snprintf(preview, sizeof preview, "%s/preview.png", tmp);
    snprintf(results, sizeof results, "%s/results.h5", tmp);
    snprintf(json, sizeof json, "%s/metrics.json", tmp);
    snprintf(report, sizeof report, "%s/report", tmp);
    snprintf(panels, sizeof panels, "%s/panels", tmp);

    sn_synth_options so = {&cfg, data, NULL, 0, 1};
    sn_synth_summary ss;
    EXPECT_MSG(sn_synth_run(&so, MPI_COMM_WORLD, &ss) == SN_OK, "synth: %s", sn_err_msg());
    EXPECT(ss.path && strcmp(ss.path, data) == 0 && ss.size == S && ss.seed == 3 && ss.ranks == 1);
    expect_error(sn_synth_run(&so, MPI_COMM_WORLD, &ss), "synth over an existing file", "exists");
    so.out = NULL;
    so.preview = preview;
    EXPECT_MSG(sn_synth_run(&so, MPI_COMM_WORLD, &ss) == SN_OK, "synth preview: %s", sn_err_msg());
    sn_image im = {0};
    EXPECT(sn_image_read(preview, &im) == SN_OK && im.w > 2 * S && im.h > 4 * S);
    sn_image_free(&im);
    so.out = data; /* both: refused */
    expect_error(sn_synth_run(&so, MPI_COMM_WORLD, &ss), "synth with out and preview", "exactly one");

    char sheets[300];
    snprintf(sheets, sizeof sheets, "%s/sheets/dpa", tmp);
    int n_sheets = 0;
    sn_pseudo_sheets_options po = {&cfg, data, "weave", 1, 3, 0, 5, sheets, count_sheet, &n_sheets};
    sn_pseudo_sheets_summary ps;
    EXPECT_MSG(sn_pseudo_sheets_run(&po, MPI_COMM_WORLD, &ps) == SN_OK, "pseudo: %s", sn_err_msg());
    EXPECT(ps.written == 3 && n_sheets == 3);
    snprintf(sheets + strlen(sheets), sizeof sheets - strlen(sheets), "/dpa_000007.png");
    EXPECT(exists(sheets));
    po.category = "nope";
    expect_error(sn_pseudo_sheets_run(&po, MPI_COMM_WORLD, &ps), "pseudo on a missing category", "nope");

    sn_train_options to = {cfg, data, "weave", model, SN_TRAIN_ALL, 0, 0, 1};
    sn_train_summary ts = {-1, -1};
    sn_threads_set(1);
    EXPECT_MSG(sn_train_run(&to, MPI_COMM_WORLD, &ts) == SN_OK, "train: %s", sn_err_msg());
    EXPECT(ts.interrupted == 0 && ts.seconds >= 0 && exists(model));

    static const char *const one_thread[] = {"threads=1"};
    sn_infer_options io = {0};
    io.model = model;
    io.data = data;
    io.category = "weave";
    io.out = results;
    io.batch = 8;
    io.quiet = 1;
    io.sets = one_thread;
    io.n_sets = 1;
    io.overlap = SN_TILE_OVERLAP_DEFAULT;
    sn_infer_summary is;
    EXPECT_MSG(sn_infer_run(&io, MPI_COMM_WORLD, &is) == SN_OK, "infer: %s", sn_err_msg());
    EXPECT(is.complete && is.rows > 0 && is.done_now == is.rows && exists(results));

    sn_config ecfg;
    config(&ecfg, NULL, 0); /* what `sernet eval` uses without --config/--set */
    sn_eval_options eo = {0};
    eo.cfg = &ecfg;
    eo.what.results = results;
    eo.what.data = data;
    eo.what.json = json;
    eo.what.report = report;
    eo.what.worst = 2;
    sn_eval_summary es;
    EXPECT_MSG(sn_eval_run(&eo, MPI_COMM_WORLD, &es) == SN_OK, "eval: %s", sn_err_msg());
    char md[400];
    snprintf(md, sizeof md, "%s/report.md", report);
    EXPECT(es.ranks == 1 && es.seconds > 0 && exists(json) && exists(md));
    eo.what.results = NULL;
    expect_error(sn_eval_run(&eo, MPI_COMM_WORLD, &es), "eval without results", "results file");

    sn_export_options xo = {0};
    xo.results = results;
    xo.data = data;
    xo.out = panels;
    xo.quiet = 1;
    sn_export_summary xs;
    EXPECT_MSG(sn_export_run(&xo, MPI_COMM_WORLD, &xs) == SN_OK, "export: %s", sn_err_msg());
    EXPECT(xs.n_written == is.rows && exists(xs.index_path));
}

/* ---- ingest ------------------------------------------------------------------------------- */

static void check_ingest(void)
{
    static const char *const s32[] = {"image_size=32"};
    sn_config cfg;
    config(&cfg, s32, 1);
    char root[300], out[300], p[700], good[400], tgood[400], hole[400], crack[400], gth[400];
    snprintf(root, sizeof root, "%s/tree", tmp);
    snprintf(out, sizeof out, "%s/ingest.h5", tmp);
    EXPECT(fx_make_tree(root, "cat") == 0);
    /* an undecodable defect image */
    snprintf(p, sizeof p, "%s/cat/test/crack/001.png", root);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs("\x89PNG\r\n\x1a\nthis is not really a png", f);
        fclose(f);
    }

    /* MVTec layout: the bad file fails the run and nothing is written ... */
    sn_ingest_options o;
    sn_ingest_options_init(&o);
    o.cfg = &cfg;
    o.category = "cat";
    o.out = out;
    o.root = root;
    sn_ingest_summary s;
    expect_error(sn_ingest_run(&o, MPI_COMM_WORLD, &s), "ingest with a bad file", "cat/test/crack/001.png");
    EXPECT(!exists(out));
    /* ... skip_bad drops it */
    o.skip_bad = 1;
    EXPECT_MSG(sn_ingest_run(&o, MPI_COMM_WORLD, &s) == SN_OK, "ingest --skip-bad: %s", sn_err_msg());
    snprintf(p, sizeof p, "%s/cat", root);
    EXPECT_MSG(strcmp(s.label, p) == 0, "label %s", s.label);
    EXPECT(s.n_train == 6 && s.n_sources == 6 && s.n_test == 4 && s.n_defective == 2 && s.n_masks == 2);
    EXPECT(s.n_defect_types == 2 && s.n_skipped == 1 && s.size == S && s.ranks == 1 && s.input_bytes > 0);
    sn_dataset *ds = NULL;
    EXPECT_MSG(sn_dataset_open(out, NULL, MPI_COMM_WORLD, &ds) == SN_OK, "open: %s", sn_err_msg());
    if (ds) {
        EXPECT(sn_dataset_count(ds, SN_SPLIT_TRAIN) == 6 && sn_dataset_count(ds, SN_SPLIT_TEST) == 4);
        EXPECT(sn_dataset_image_size(ds) == S && strcmp(sn_dataset_category(ds), "cat") == 0);
        sn_dataset_close(ds);
    }
    expect_error(sn_ingest_run(&o, MPI_COMM_WORLD, &s), "ingest over an existing file", "exists");

    /* plain folders: good, good test images, the hole images (type 'defect') with their masks
     * (<stem>_mask.png in the masks folder itself) */
    snprintf(good, sizeof good, "%s/cat/train/good", root);
    snprintf(tgood, sizeof tgood, "%s/cat/test/good", root);
    snprintf(hole, sizeof hole, "%s/cat/test/hole", root);
    snprintf(gth, sizeof gth, "%s/cat/ground_truth/hole", root);
    sn_ingest_options_init(&o);
    o.cfg = &cfg;
    o.category = "plain";
    o.out = out;
    o.force = 1;
    o.good = good;
    o.test_good = tgood;
    o.defect = hole;
    o.masks = gth;
    EXPECT_MSG(sn_ingest_run(&o, MPI_COMM_WORLD, &s) == SN_OK, "ingest folders: %s", sn_err_msg());
    EXPECT(strcmp(s.label, "plain") == 0 && s.n_train == 6 && s.n_test == 3 && s.n_defective == 1);
    EXPECT(s.n_masks == 1 && s.n_defect_types == 1 && s.n_skipped == 0);
    /* the test folder of the MVTec layout as defect folder: its subfolder 'good' is no defect type */
    snprintf(p, sizeof p, "%s/cat/test", root);
    o.defect = p;
    o.masks = NULL;
    expect_error(sn_ingest_run(&o, MPI_COMM_WORLD, &s), "defect type good", "may not be called 'good'");
    /* a defect image without a mask (crack/001 has none among the hole masks) */
    snprintf(crack, sizeof crack, "%s/cat/test/crack", root);
    o.defect = crack;
    o.masks = gth;
    expect_error(sn_ingest_run(&o, MPI_COMM_WORLD, &s), "missing mask", "have no mask");
    /* options a C caller can get wrong */
    o.root = root;
    expect_error(sn_ingest_run(&o, MPI_COMM_WORLD, &s), "root and folders", "two ways in");

    /* tile: the training images cut into S x S tiles at their own size (40 x 36) */
    sn_ingest_options_init(&o);
    o.cfg = &cfg;
    o.category = "tiles";
    o.out = out;
    o.force = 1;
    o.good = good;
    o.tile = 1;
    EXPECT_MSG(sn_ingest_run(&o, MPI_COMM_WORLD, &s) == SN_OK, "ingest tile: %s", sn_err_msg());
    sn_tile_grid g;
    EXPECT(sn_tile_grid_make(40, 36, S, sn_tile_default_overlap(S), "test", &g) == SN_OK);
    EXPECT_MSG(s.n_train == 6 * sn_tile_count(&g) && s.n_sources == 6 && s.n_test == 0,
               "tiles %lld of %lld images", (long long)s.n_train, (long long)s.n_sources);
    o.test_good = tgood;
    expect_error(sn_ingest_run(&o, MPI_COMM_WORLD, &s), "tile with test images", "no test_good");
}

/* ---- score and calibrate ------------------------------------------------------------------ */

#define MAX_ITEMS 32
typedef struct {
    int n, order_ok, folder_errors;
    int index[MAX_ITEMS], ok[MAX_ITEMS], has_verdict[MAX_ITEMS], defect[MAX_ITEMS];
    float score[MAX_ITEMS];
    char path[MAX_ITEMS][400], map[MAX_ITEMS][400];
} seen;

static void on_item(void *ctx, const sn_score_item *it)
{
    seen *z = ctx;
    if (it->index < 0) {
        z->folder_errors += !it->ok && strstr(it->error, it->path) != NULL;
        return;
    }
    if (z->n >= MAX_ITEMS)
        return;
    z->order_ok &= it->index == z->n; /* input order, whichever job finished first */
    int k = z->n++;
    z->index[k] = it->index;
    z->ok[k] = it->ok;
    z->score[k] = it->score;
    z->has_verdict[k] = it->has_verdict;
    z->defect[k] = it->defect;
    snprintf(z->path[k], sizeof z->path[k], "%s", it->path);
    snprintf(z->map[k], sizeof z->map[k], "%s", it->ok ? it->map : "");
    if (!it->ok)
        EXPECT_MSG(strstr(it->error, it->path) != NULL, "error '%s' names %s", it->error, it->path);
}

static sn_status score(const char *model, const char *data, const char *maps, int jobs, int require,
                       const char *const *inputs, int n, seen *z, sn_score_summary *s)
{
    static const char *const one_thread[] = {"threads=1"};
    sn_score_options o;
    sn_score_options_init(&o);
    o.model = model;
    o.data = data;
    o.category = "weave";
    o.threads = 1;
    o.jobs = jobs;
    o.maps_dir = maps;
    o.require_thresholds = require;
    o.sets = one_thread;
    o.n_sets = 1;
    o.inputs = inputs;
    o.n_inputs = n;
    o.on_item = on_item;
    o.ctx = z;
    memset(z, 0, sizeof *z);
    z->order_ok = 1;
    return sn_score_run(&o, s);
}

static void check_score(const char *data, const char *model)
{
    char hole[400], good[400], empty[400], missing[400], maps[400], p[900];
    snprintf(hole, sizeof hole, "%s/tree/cat/test/hole", tmp); /* one image, 000.png */
    snprintf(good, sizeof good, "%s/tree/cat/train/good", tmp); /* 6 images and a README.txt */
    snprintf(empty, sizeof empty, "%s/empty", tmp);
    snprintf(missing, sizeof missing, "%s/nothere.png", tmp);
    snprintf(maps, sizeof maps, "%s/maps", tmp);
    fx_mkdirs(tmp, "empty");
    const char *inputs[] = {hole, missing, empty, good};
    seen z;
    sn_score_summary s;

    /* no thresholds yet: requiring them fails before any image */
    expect_error(score(model, data, NULL, 1, 1, inputs, 4, &z, &s), "require thresholds",
                 "--fail-on-defect needs thresholds");
    EXPECT(z.n == 0);

    EXPECT_MSG(score(model, data, maps, 3, 0, inputs, 4, &z, &s) == SN_OK, "score: %s", sn_err_msg());
    /* hole/000, nothere, train/good/000..004 and 005.jpg; the empty folder is an error of its own */
    EXPECT_MSG(z.n == 8 && z.order_ok && z.folder_errors == 1, "items %d, order %d, folder errors %d", z.n,
               z.order_ok, z.folder_errors);
    EXPECT(s.scored == 7 && s.failed == 1 && s.failed_folders == 1 && s.jobs == 3 && s.size == S);
    EXPECT(!s.has_thresholds && s.defects == 0 && s.seconds > 0);
    EXPECT(z.n == 8 && !z.ok[1] && strcmp(z.path[1], missing) == 0);
    /* map names: the stem, with -2 for the second image of that stem */
    snprintf(p, sizeof p, "%s/000.png", maps);
    EXPECT_MSG(strcmp(z.map[0], p) == 0, "map %s", z.map[0]);
    snprintf(p, sizeof p, "%s/000-2.png", maps);
    EXPECT_MSG(strcmp(z.map[2], p) == 0, "map %s", z.map[2]);
    sn_image im = {0};
    EXPECT(sn_image_read(z.map[2], &im) == SN_OK && im.w == S && im.h == S && im.c == 1);
    sn_image_free(&im);

    /* the same scores as the inspection API, one image at a time */
    static const char *const one_thread[] = {"threads=1"};
    sn_inspect_options io;
    sn_inspect_options_init(&io);
    io.category = "weave";
    io.threads = 1;
    io.sets = one_thread;
    io.n_sets = 1;
    sn_inspector *in = NULL;
    EXPECT_MSG(sn_inspector_open(model, data, &io, &in) == SN_OK, "open: %s", sn_err_msg());
    for (int i = 0; in && i < z.n; i++) {
        if (!z.ok[i])
            continue;
        sn_inspect_result r = {0};
        EXPECT(sn_inspect_file(in, z.path[i], &r) == SN_OK);
        EXPECT_MSG(r.score == z.score[i], "%s: score %.9g, API %.9g", z.path[i], z.score[i], r.score);
    }
    sn_inspector_close(in);

    /* calibrate from the good images, then score applies the thresholds */
    const char *goods[] = {good};
    sn_calibrate_options co;
    sn_calibrate_options_init(&co);
    co.model = model;
    co.data = data;
    co.category = "weave";
    co.threads = 1;
    co.fpr = 0.2;
    co.sets = one_thread;
    co.n_sets = 1;
    co.inputs = goods;
    co.n_inputs = 1;
    sn_calibrate_summary cs;
    EXPECT_MSG(sn_calibrate_run(&co, &cs) == SN_OK, "calibrate: %s", sn_err_msg());
    EXPECT(cs.n_images == 6 && cs.thresholds.image > 0 && !cs.model_is_bundle);
    EXPECT_MSG(strstr(cs.thresholds.source, "fpr 0.2 on 6 held-out good images"), "%s", cs.thresholds.source);
    /* at fpr 0.2 of 6 images: floor(1.2) + 1 = the 2nd largest score, so exactly one is above */
    const char *good_only[] = {good};
    EXPECT(score(model, data, NULL, 2, 1, good_only, 1, &z, &s) == SN_OK);
    EXPECT(s.has_thresholds && s.scored == 6 && s.defects == 1 && z.has_verdict[0]);
    EXPECT_NEAR(s.thresholds.image, cs.thresholds.image, 0);

    /* given numbers: nothing above a huge threshold, everything above a tiny one */
    sn_calibrate_options_init(&co);
    co.model = model;
    co.threshold = 1e30;
    EXPECT_MSG(sn_calibrate_run(&co, &cs) == SN_OK, "calibrate --threshold: %s", sn_err_msg());
    EXPECT(cs.n_images == 0 && cs.thresholds.image == 1e30 && cs.thresholds.pixel == 0);
    EXPECT(score(model, data, NULL, 1, 1, good_only, 1, &z, &s) == SN_OK && s.defects == 0);
    co.threshold = 1e-30;
    EXPECT(sn_calibrate_run(&co, &cs) == SN_OK);
    EXPECT(score(model, data, NULL, 1, 1, good_only, 1, &z, &s) == SN_OK && s.defects == 6 && z.defect[5]);
    co.data = data; /* numbers and images' dataset: refused */
    expect_error(sn_calibrate_run(&co, &cs), "calibrate numbers with data", "calibrate:");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    snprintf(tmp, sizeof tmp, "/tmp/sn_app_XXXXXX");
    if (!mkdtemp(tmp)) {
        MPI_Finalize();
        sn_test_skip("cannot create a temporary folder");
    }
    char data[300], model[300], cmd[400];
    snprintf(data, sizeof data, "%s/syn.h5", tmp);
    snprintf(model, sizeof model, "%s/m.h5", tmp);
    check_pipeline(data, model);
    check_ingest();
    if (exists(model))
        check_score(data, model);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    MPI_Finalize();
    return sn_test_finish();
}
