"""Packaging for akhbar; also the file Beam workers install from (``--setup_file ./setup.py``).

``transforms._native`` (the entity tagger's hot paths, ``native/``) is a Rust extension that
setuptools-rust builds with cargo; its crates come from crates.io, pinned by ``native/Cargo.lock``.
"""

from setuptools import find_packages, setup
from setuptools_rust import Binding, RustExtension

# Pinned deliberately: apache-beam must match the Flink/Spark job-server jars and the Prism
# runner built from Maven Central and the Go module proxy (see Makefile: runners).
INSTALL_REQUIRES = [
    "apache-beam==2.70.0",
    "elasticsearch==8.19.3",
    "feedparser==6.0.14",
    "pyarabic==0.6.15",
    "PyYAML==6.0.4",
    "requests==2.34.2",
    "ftfy==6.3.1",
    "charset-normalizer==3.5.2",
    "selectolax==1.0.2",
    "defusedxml==0.7.1",
    "url-normalize==3.1.0",
    "datasketch==2.0.0",
    "hijridate==2.6.0",
    "babel==2.18.0",
    "pycountry==26.2.16",
    "python-crfsuite==0.9.12",  # trains the entity CRF (make model); tagging reads the model with numpy
    "numpy==2.2.6",  # transforms/dedup.py (MinHash); the version apache-beam 2.70 resolves to anyway
    "trafilatura==2.3.1",  # full-page fetch for summary-only feeds (akhbar stream)
    "lxml-html-clean==0.4.6",  # lxml 6 moved lxml.html.clean, which trafilatura imports, here
    "crcmod==1.7",  # silences Beam's import-time warning; fast CRC for its file IO
    "orjson==3.13.0",  # bulk request bodies and Elasticsearch responses (transforms/elasticsearch.py)
]

EXTRAS_REQUIRE = {
    "test": [
        "pytest==9.2.0",
        "hypothesis==6.170.17",
        "dateparser==1.5.0",
        "ruff==0.17.6",
        "mypy==2.4.1",
        "types-PyYAML",
        "types-requests",
    ],
}

setup(
    name="akhbar",
    version="0.1.0",
    description="Arabic-first news ingestion: Apache Beam pipelines into Elasticsearch",
    license="GPL-3.0-or-later",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["pipelines", "pipelines.*", "transforms", "transforms.*", "config", "config.*"]),
    package_data={
        "config": ["*.json", "*.yaml", "dates/*.yaml", "gazetteers/*", "kibana/*"],
        "transforms": ["models/*"],
    },
    include_package_data=True,
    rust_extensions=[
        RustExtension(
            "transforms._native", path="native/Cargo.toml", binding=Binding.PyO3, py_limited_api=True, debug=False
        )
    ],
    zip_safe=False,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["akhbar=pipelines.cli:main"]},
)
