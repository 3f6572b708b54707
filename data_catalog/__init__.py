"The dataset catalog files (YAML), package data of cxr_fast: `cxr_fast.config.catalog_dir()` finds them."
