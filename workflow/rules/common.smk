# Helpers shared by the rules: where the data come from, what `all` builds.


def source_files():
    """The input files of the conversion, by `dataset.source`."""
    source = config["dataset"]["source"]
    if source == "synthetic":
        return ["results/source/synthetic.json.gz"]
    if source == "uci":
        return ["results/source/dataset.json.gz"]
    return config["dataset"]["root"]["files"]


def preprocessed():
    """The preprocessing artifacts, by name."""
    return {
        "train": "results/preprocessed/train.parquet",
        "val": "results/preprocessed/val.parquet",
        "test": "results/preprocessed/test.parquet",
        "summary": "results/preprocessed/preprocessing.json",
    }


def all_outputs():
    return [*preprocessed().values(), "results/models/nominal", "results/models/adversarial"]
