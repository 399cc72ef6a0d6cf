"""The paper's reported numbers (from ``reference/paper_tables.md``), as data.

Values are Top-1 / Top-5 accuracy in percent, mean of 3 runs; ``std`` holds the
Top-1 standard deviations of Tables D.1, D.2 and D.4 where the paper gives them.
Keys: (alpha, T). Teachers use T = None.
"""

from __future__ import annotations

GRID: dict[str, dict] = {
    "2A": {"title": "Table 2A: ImageNet-1K, ResNet-50 teacher -> ResNet-18", "std_table": "D.1", "rows": {
        (0.0, None): (76.130, 92.862), (0.1, None): (76.196, 93.078),
        (0.0, 1): (71.547, 90.297), (0.1, 1): (71.616, 90.233),
        (0.0, 2): (71.349, 90.359), (0.1, 2): (68.428, 89.139),
        (0.0, 3): (69.570, 89.657), (0.1, 3): (66.570, 88.631),
        (0.0, 64): (66.230, 88.730), (0.1, 64): (65.472, 89.564)},
        "std": {(0.0, 1): 0.122, (0.1, 1): 0.114, (0.0, 2): 0.017, (0.1, 2): 0.065,
                (0.0, 3): 0.320, (0.1, 3): 0.079, (0.0, 64): 0.036, (0.1, 64): 0.142}},
    "2A-R50": {"title": "Table 2A: ImageNet-1K, ResNet-50 teacher -> ResNet-50", "std_table": "D.1", "rows": {
        (0.0, 1): (76.502, 93.059), (0.1, 1): (77.035, 93.327),
        (0.0, 2): (76.198, 92.987), (0.1, 2): (76.101, 93.115),
        (0.0, 3): (75.388, 92.676), (0.1, 3): (75.821, 93.065),
        (0.0, 64): (74.291, 92.399), (0.1, 64): (74.627, 92.639)},
        "std": {(0.0, 1): 0.234, (0.1, 1): 0.061, (0.0, 2): 0.035, (0.1, 2): 0.105,
                (0.0, 3): 0.095, (0.1, 3): 0.006, (0.0, 64): 0.014, (0.1, 64): 0.035}},
    "2B": {"title": "Table 2B: CUB-200-2011, ResNet-50 teacher -> ResNet-18", "std_table": "D.2", "rows": {
        (0.0, None): (81.584, 95.927), (0.1, None): (82.068, 96.168),
        (0.0, 1): (80.169, 95.392), (0.1, 1): (80.946, 95.312),
        (0.0, 2): (80.808, 95.593), (0.1, 2): (80.428, 95.518),
        (0.0, 3): (80.785, 95.674), (0.1, 3): (78.196, 95.213),
        (0.0, 64): (73.611, 94.529), (0.1, 64): (67.161, 93.062)},
        "std": {(0.0, 1): 0.336, (0.1, 1): 0.03, (0.0, 2): 0.314, (0.1, 2): 0.053,
                (0.0, 3): 0.26, (0.1, 3): 0.163, (0.0, 64): 0.314, (0.1, 64): 0.086}},
    # The paper's own counter-evidence to "LS hurts at high T" sits partly in these rows.
    "2B-R50": {"title": "Table 2B: CUB-200-2011, ResNet-50 teacher -> ResNet-50", "std_table": "D.2", "rows": {
        (0.0, 1): (82.902, 96.358), (0.1, 1): (83.742, 96.778),
        (0.0, 2): (82.534, 96.427), (0.1, 2): (83.379, 96.537),
        (0.0, 3): (82.091, 96.243), (0.1, 3): (82.142, 96.427),
        (0.0, 64): (79.784, 95.927), (0.1, 64): (77.206, 95.812)},
        "std": {(0.0, 1): 0.343, (0.1, 1): 0.141, (0.0, 2): 0.137, (0.1, 2): 0.105,
                (0.0, 3): 0.161, (0.1, 3): 0.13, (0.0, 64): 0.26, (0.1, 64): 0.13}},
    "4": {"title": "Table 4: CUB-200-2011, ResNet-50 teacher -> MobileNetV2", "std_table": "D.4", "rows": {
        (0.0, None): (81.584, 95.927), (0.1, None): (82.068, 96.168),
        (0.0, 1): (81.144, 95.677), (0.1, 1): (81.731, 95.754),
        (0.0, 2): (81.895, 95.858), (0.1, 2): (80.609, 95.470),
        (0.0, 3): (81.257, 95.677), (0.1, 3): (78.961, 95.306),
        (0.0, 64): (75.441, 94.702), (0.1, 64): (70.435, 93.494)},
        "std": {(0.0, 1): 0.037, (0.1, 1): 0.256, (0.0, 2): 0.024, (0.1, 2): 0.061,
                (0.0, 3): 0.073, (0.1, 3): 0.293, (0.0, 64): 0.049, (0.1, 64): 0.171}},
    "B.1": {"title": "Table B.1: CUB-200-2011, ResNet-50 teacher -> ConvNeXt-T", "rows": {
        (0.0, 1): (86.624, 97.221), (0.1, 1): (86.866, 97.377),
        (0.0, 3): (86.554, 97.187), (0.1, 3): (83.638, 97.135)}},
    "B.3": {"title": "Table B.3: ImageNet-1K, ResNet-50 teacher -> EfficientNet-B0", "rows": {
        (0.0, 1): (68.850, 88.604), (0.1, 1): (69.906, 89.284),
        (0.0, 3): (68.546, 88.704), (0.1, 3): (58.182, 83.918)}},
    "B.5": {"title": "Table B.5: CUB-200-2011, ResNet-50 -> ResNet-50, feature distillation (Heo et al.) + KD",
            "rows": {(0.0, None): (81.584, 95.927), (0.1, None): (82.068, 96.168),
                     (0.0, 1): (82.568, 96.479), (0.1, 1): (83.794, 96.686),
                     (0.0, 3): (82.706, 96.307), (0.1, 3): (81.739, 96.117)}},
    # Translation (IWSLT, Transformer teacher and student): BLEU in place of top-1, no top-5.
    "5": {"title": "Table 5: IWSLT En->De, Transformer (BLEU)", "std_table": "D.3", "rows": {
        (0.0, None): (26.461, None), (0.1, None): (26.750, None),
        (0.0, 1): (24.914, None), (0.1, 1): (25.085, None), (0.0, 2): (23.103, None), (0.1, 2): (23.421, None),
        (0.0, 3): (21.999, None), (0.1, 3): (22.076, None), (0.0, 64): (6.564, None), (0.1, 64): (6.461, None)},
        "std": {(0.0, 1): 0.013, (0.1, 1): 0.082, (0.0, 2): 0.103, (0.1, 2): 0.039,
                (0.0, 3): 0.06, (0.1, 3): 0.125, (0.0, 64): 0.288, (0.1, 64): 0.061}},
    "B.2": {"title": "Table B.2: IWSLT En->Ru, Transformer (BLEU)", "rows": {
        (0.0, None): (16.718, None), (0.1, None): (16.976, None),
        (0.0, 1): (16.140, None), (0.1, 1): (16.197, None), (0.0, 2): (14.977, None), (0.1, 2): (15.100, None),
        (0.0, 3): (13.826, None), (0.1, 3): (14.106, None), (0.0, 64): (3.605, None), (0.1, 64): (3.590, None)}},
}


def top1(table: str, alpha: float, t: float | None) -> float | None:
    row = GRID[table]["rows"].get((alpha, None if t is None else float(t)))  # 1.5 must not meet the T=1 row
    return None if row is None else row[0]


# ---------------------------------------------------------------- diffusion index (Sec. 5, App. B, K)
# eta(T1=1, T2=3) of students of the LS ResNet-50 teacher on ImageNet, as printed
# (percent): per target class, (train S1, train S2, val S1, val S2).
_ETA_CLASSES = ("Chesapeake_Bay_retriever", "curly-coated_retriever", "flat-coated_retriever", "golden_retriever",
                "Labrador_retriever", "thunder_snake", "ringneck_snake", "hognose_snake", "water_snake",
                "king_snake")


def _eta_table(values: str) -> dict[str, tuple[float, float, float, float]]:
    nums = [float(v) for v in values.split()]
    return {c: tuple(nums[4 * i: 4 * i + 4]) for i, c in enumerate(_ETA_CLASSES)}


ETA: dict[str, dict] = {
    "3-R18": {"title": "Table 3: ResNet-18 student", "rows": _eta_table("""
        -0.392 0.162 -1.082 0.269  -0.578 0.179 -2.024 0.383  -1.729 0.380 -3.320 0.655
        -0.880 0.228 -2.594 0.555  -2.758 0.501 -4.618 0.840  -2.316 0.376 -3.584 0.511
        -0.463 0.058 -0.757 0.094  -1.528 0.258 -4.067 0.631  -2.028 0.326 -3.053 0.478
        -2.474 0.521 -4.577 0.840""")},
    "3-R50": {"title": "Table 3: ResNet-50 student", "rows": _eta_table("""
        -1.061 0.180 -1.346 0.240  -0.764 0.127 -1.193 0.207  -0.983 0.169 -0.331 0.056
        -0.744 0.159 -0.911 0.182  -1.336 0.236 -1.468 0.257  -2.565 0.417 -0.778 0.105
        -2.224 0.358 -0.726 0.102  -3.748 0.623 -2.173 0.342  -1.631 0.258 -0.390 0.037
        -1.969 0.339 0.956 -0.159""")},
    "B.4": {"title": "Table B.4: EfficientNet-B0 student", "rows": _eta_table("""
        -2.276 0.490 -3.760 0.790  -0.830 0.235 -4.502 0.933  -0.979 0.173 -3.904 0.807
        -3.651 0.694 -4.356 0.890  -2.747 0.469 -4.730 0.860  -10.981 1.458 -12.916 1.789
        -9.629 1.211 -10.617 1.373  -7.984 1.271 -9.347 1.536  -8.217 1.302 -9.645 1.489
        -8.371 1.365 -10.082 1.647""")},
    "K.1": {"title": "Table K.1: ResNet-18 student, average pairwise distance", "rows": _eta_table("""
        -2.532 1.025 -2.919 1.154  -2.359 1.208 -3.068 1.354  -3.201 1.183 -3.643 1.237
        -2.307 0.895 -2.994 1.038  -3.586 1.089 -4.337 1.355  -5.438 1.642 -6.419 1.939
        -5.680 1.814 -5.914 1.775  -5.327 1.742 -5.393 1.707  -5.266 1.672 -5.301 1.640
        -5.454 1.941 -5.783 1.998""")},
}
ETA_COLUMNS = ("train S1", "train S2", "val S1", "val S2")

# Table G.1: agreement of method 1 (WordNet) and method 2 (nearest 10 / farthest 900 centroids).
SET_AGREEMENT = dict(zip(_ETA_CLASSES, (
    (1.000, 0.950), (0.750, 0.950), (1.000, 1.000), (0.500, 1.000), (0.750, 1.000),
    (1.000, 0.900), (1.000, 0.900), (0.500, 0.900), (1.000, 0.900), (1.000, 0.900))))

# Appendix E: for the LS ResNet-50 on ImageNet train, the number of the other 999
# mean probabilities that the second-largest one exceeds by at least 100x.
SECOND_LARGEST_100X = {"standard_poodle": ("miniature_poodle", 976, 999),
                       "golden_retriever": ("Labrador_retriever", 924, 999),
                       "thunder_snake": ("ringneck_snake", 964, 999)}

# Appendix H: mean target entropy (nats) of the CUB ResNet-50 teachers; only the
# cells the paper's case studies pin down (max ln 200 = 5.298).
ENTROPY_H1 = {(0.0, 1): 0.184, (0.1, 1): 0.888, (0.0, 2): 0.888, (0.1, 3): 5.118, (0.0, 64): 5.298,
              (0.1, 64): 5.298}

# Table J.1 (CUB, ResNet-50 -> MobileNetV2): the third alpha's value was lost in extraction.
LARGER_ALPHA_J1 = {  # T -> top-1 for alpha = 0.0, 0.1, "larger"
    None: (81.584, 82.068, 81.412), 1: (81.144, 81.731, 81.498), 2: (81.895, 80.609, 79.997),
    3: (81.257, 78.961, 76.959), 64: (75.441, 70.435, 63.738)}

# Appendix H case studies: students of the CUB teachers at equal mean target
# entropy: (student, entropy, LS-teacher T, LS top-1, plain top-1).
EQUAL_ENTROPY_PAIRS = (
    ("ResNet-50", 0.888, 1, 83.742, 82.603), ("ResNet-18", 0.888, 1, 80.946, 80.808),
    ("ResNet-18", 5.118, 3, 78.196, 78.719), ("MobileNetV2", 5.118, 3, 78.961, 79.341),
    ("ResNet-18", 5.298, 64, 67.161, 73.611), ("ResNet-50", 5.298, 64, 77.206, 79.784),
    ("MobileNetV2", 5.298, 64, 70.435, 75.441))

# ---------------------------------------------------------------- for the errata chapter
# Table D.1 / D.2 standard deviations per (student, T):
# (alpha=0 top-1 std, alpha=0 top-5 std, alpha=0.1 top-1 std, alpha=0.1 top-5 std).
STD_D: dict[str, dict[tuple[str, int], tuple[float, float, float, float]]] = {
    "D.1": {("ResNet-18", 1): (0.122, 0.175, 0.114, 0.119), ("ResNet-18", 2): (0.017, 0.054, 0.065, 0.092),
            ("ResNet-18", 3): (0.320, 0.041, 0.079, 0.096), ("ResNet-18", 64): (0.036, 0.071, 0.142, 0.100),
            ("ResNet-50", 1): (0.234, 0.061, 0.061, 0.185), ("ResNet-50", 2): (0.035, 0.105, 0.105, 0.017),
            ("ResNet-50", 3): (0.095, 0.006, 0.006, 0.088), ("ResNet-50", 64): (0.014, 0.035, 0.035, 0.085)},
    "D.2": {("ResNet-18", 1): (0.336, 0.03, 0.03, 0.18), ("ResNet-18", 2): (0.314, 0.053, 0.053, 0.108),
            ("ResNet-18", 3): (0.26, 0.163, 0.163, 0.125), ("ResNet-18", 64): (0.314, 0.086, 0.086, 0.127),
            ("ResNet-50", 1): (0.343, 0.141, 0.141, 0.12), ("ResNet-50", 2): (0.137, 0.105, 0.105, 0.018),
            ("ResNet-50", 3): (0.161, 0.13, 0.13, 0.211), ("ResNet-50", 64): (0.26, 0.13, 0.13, 0.259)},
}
# ImageNet ResNet-18 student of the LS teacher (alpha=0.1), top-1 by T, as printed in three places.
R18_LS_THREE_SOURCES = {"Table 2A": {2: 68.428, 3: 66.570, 64: 65.472},
                        "Table D.1": {2: 68.799, 3: 67.699, 64: 64.506},
                        "official README": {2: 68.860, 3: 67.752, 64: 64.362}}
# Table D.4's means (labelled "ResNet-18" in the extracted text), alpha=0.0 / 0.1 top-1 by T.
D4_MEANS = {1: (81.144, 81.731), 2: (81.895, 80.609), 3: (81.257, 78.961), 64: (75.441, 70.435)}
# Drops quoted in the text of Sec. 5.
QUOTED_DROPS = {"ResNet-18": 5.05, "ResNet-50": 1.21}

# Defects of the official code (github.com/sutd-visual-computing-group/LS-KD-compatibility,
# commit 4a56a73), found by reading it; described, not copied.
# The official README's tables (ImageNet, ResNet-50 teacher), top-1 / top-5, keys (alpha, T), teachers T = None.
OFFICIAL_README = {
    "ResNet-18": {(0.0, None): (76.132, 92.862), (0.1, None): (76.200, 93.082),
                  (0.0, 1): (71.488, 90.272), (0.1, 1): (71.666, 90.364),
                  (0.0, 2): (71.360, 90.362), (0.1, 2): (68.860, 89.352),
                  (0.0, 3): (69.674, 89.698), (0.1, 3): (67.752, 88.932),
                  (0.0, 64): (66.194, 88.706), (0.1, 64): (64.362, 87.698)},
    "ResNet-50": {(0.0, None): (76.132, 92.862), (0.1, None): (76.200, 93.082),
                  (0.0, 1): (76.328, 92.996), (0.1, 1): (76.896, 93.236),
                  (0.0, 2): (76.180, 93.072), (0.1, 2): (76.110, 93.138),
                  (0.0, 3): (75.488, 92.670), (0.1, 3): (75.790, 93.006),
                  (0.0, 64): (74.278, 92.410), (0.1, 64): (74.566, 92.596)},
}
# The paper table each README table restates.
README_TABLE_OF = {"ResNet-18": "2A", "ResNet-50": "2A-R50"}

# The repository at commit 4a56a73; lines counted in that commit's files.
OFFICIAL_COMMIT = "4a56a73"
# Appendix I: per-class validation top-1 of the ResNet-18 student of the LS teacher, at the lowest
# and the highest temperature of its figure (retrievers and snakes, ImageNet).
APPENDIX_I_DROPS = {"retrievers": (81.600, 74.800), "snakes": (73.200, 67.200)}


OFFICIAL_CODE_DEFECTS = (
    {"file": "src/image_classification/imagenet/train_student_dali.py", "lines": "336-338",
     "defect": "With one data folder on the command line, the training pipeline and the validation "
               "pipeline both read its 'val' sub-folder (only the two-folder form reads 'train').",
     "consequence": "A student launched with one folder trains on the 50,000 validation images and is "
                    "then evaluated on those same images.",
     "here": "The ImageNet loader reads 'train' for training and 'val' for evaluation, by name; `lskd "
              "data verify imagenet1k` checks both counts."},
    {"file": "bash_scripts/imagenet/train_student.sh", "lines": "16, 19-20, 52",
     "defect": "The shipped ImageNet student script passes the single folder $INPUT_FOLDER; the train and "
               "val folders it defines on lines 19-20 are never used.",
     "consequence": "The recipe as shipped takes the one-folder branch above: it trains students on the "
                    "validation images.",
     "here": "`lskd train` takes one data root and always trains on its 'train' folder."},
    {"file": "src/image_classification/imagenet/train_student_dali.py", "lines": "401, 405-409, 433-446",
     "defect": "After every epoch the student is evaluated on the validation set; the checkpoint with the "
               "best validation top-1 is kept as the 'best' file (is_best), and the best top-1 is logged.",
     "consequence": "ImageNet's validation set is also its test set here, so a 'best' figure picks its "
                    "epoch on the images it is scored on, an optimistic choice (of the order of the "
                    "epoch-to-epoch noise).",
     "here": "Every table and verdict here uses the final epoch's accuracy (`final_top1`); the best "
              "epoch is recorded but never reported as the result."},
    {"file": "src/visualization/alpha-LS-KD_imagenet_centroids.py", "lines": "176-178",
     "defect": "The projection's templates take the classifier weights of the chosen ImageNet classes "
               "(indices 266, 267, 833, line 176) but the biases of classes 0, 1, 2 (line 178), so the "
               "3-D basis is not the span of the chosen classes' [w | b] templates.",
     "consequence": "The published projections use a slightly wrong subspace; the projected coordinates "
                    "no longer reproduce the three logits.",
     "here": "lskd_core.analysis.projection.templates indexes weight and bias with the same rows; "
              "tests/test_analysis.py checks that the coordinates give back the logits."},
    {"file": "src/visualization/alpha-LS-KD_imagenet_centroids.py", "lines": "22, 43-52, 140-144",
     "defect": "The README says this script reproduces Figures 1, A.1 and A.2. It fixes the student to "
               "ResNet-18 (line 140) at T = 1 and 2 (line 142); its loader builds only ResNet-18 or "
               "ResNet-50 students (lines 49-52); the teacher loader (line 22) is never called.",
     "consequence": "As shipped it draws the ResNet-18 student panels of Figure 1 only: not Figure 1's "
                    "teacher panels, not Figure A.1 (ResNet-50 student) without editing line 140, and "
                    "not Figure A.2 (EfficientNet-B0 student) at all.",
     "here": "Chapter 4 draws teacher and student panels for any student architecture and temperature."},
    {"file": "src/visualization/alpha-LS-KD_imagenet_centroids.py", "lines": "146-149",
     "defect": "Not a bug but a choice to know about: the 3-D coordinates are reduced to 2-D with a PCA "
               "fitted separately for each (alpha, T) panel, not with one fixed plane.",
     "consequence": "Each panel has its own axes, so distances are not comparable across panels.",
     "here": "lskd_core.analysis.projection.plane_coordinates uses the templates' plane for every "
              "panel."},
    {"file": "bash_scripts/imagenet/train_student.sh", "lines": "54",
     "defect": "Every student distils from the teacher file named '...-best.pth.tar', the checkpoint the "
               "teacher script kept for its best validation top-1.",
     "consequence": "On ImageNet the validation set is the test set, so the teacher was chosen on the images "
                    "its students are scored on.",
     "here": "A student distils from its teacher's final-epoch weights, the only ones the run cache keeps."},
    {"file": "bash_scripts/cub/train_student.sh", "lines": "47",
     "defect": "The CUB student script likewise distils from the teacher's '-best' file, selected on CUB's "
               "test split (the CUB scripts have no other held-out split).",
     "consequence": "The CUB teachers of Tables 2B, 4 and B.1 were picked on the test images.",
     "here": "As above: final-epoch teachers, no selection on any split."},
    {"file": "src/image_classification/cub/train_student.py", "lines": "329, 372-382",
     "defect": "The CUB student is evaluated on the test split after every epoch, and the checkpoint with the "
               "best test top-1 is copied to the 'best' file and logged as best_acc1.",
     "consequence": "A 'best' CUB student accuracy is the maximum over epochs of the test accuracy: an "
                    "optimistic figure, chosen on the images it reports.",
     "here": "Every verdict uses the final epoch (`final_top1`); the best epoch is recorded, never used."},
    {"file": "bash_scripts/cub/train_student.sh", "lines": "36",
     "defect": "SEED=2021 is fixed for every student, and each alpha has one teacher file.",
     "consequence": "The three repetitions behind the paper's CUB standard deviations cannot have varied the "
                    "teacher with this script; at most the student's seed was changed by hand.",
     "here": "Seed s trains both teachers and all their students, so the intervals cover teacher and "
              "student variation together."},
)

# Inconsistencies inside the paper's own text and tables, beyond those chapter 8 computes from the tables.
PAPER_TEXT_ERRATA = (
    {"where": "Sec. 5", "what": "The ImageNet ResNet-50 student's projections are cited as Figure A.4; the "
                                "ResNet-50 student panels are Figure A.1."},
    {"where": "Tables 2A and D.1", "what": "The two tables disagree on top-5 as well as top-1: for the smoothed "
                                           "teacher's ResNet-18 student at T = 64, 2A gives 89.564 and D.1 87.811."},
    {"where": "Appendix H, cases 1 and 2", "what": "The plain-teacher students paired at equal entropy are not "
                                                   "cells of Table 2B, so this book's T = 2 pairing "
                                                   "(`ENTROPY_H1[(0.0, 2)]`) is an inference, not a number the "
                                                   "paper prints."},
    {"where": "Sec. 6 on Tables 5 and B.2", "what": "The text says a smoothed teacher hurts translation at high "
                                                     "T; the tables show its student better at T = 1-3 and worse at "
                                                     "T = 64 by at most 0.10 BLEU, inside D.3's standard deviation "
                                                     "of 0.288."},
    {"where": "Appendix H", "what": "The '34 experiments' behind the claim that more systematic diffusion means "
                                    "lower accuracy are backed by no table; only the case studies are printed."},
)
