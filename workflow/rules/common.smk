# Helpers shared by the rules: where the data come from, what `all` builds.


def source_files():
    """The input files of the conversion, by `dataset.source`."""
    source = config["dataset"]["source"]
    if source == "synthetic":
        return ["results/source/synthetic.json.gz"]
    if source == "uci":
        return ["results/source/dataset.json.gz"]
    return config["dataset"]["root"]["files"]


def all_outputs():
    return expand("results/preprocessed/{split}.parquet", split=["train", "val", "test"]) + [
        "results/preprocessed/preprocessing.json"
    ]
