"The experiment notebooks, package data of cxr_fast: `cxr_fast.config.experiments_dir()` finds them (`cxr-fast run NAME`)."
