"""Self-serve scaffolding: `data-mesh new-domain` and `data-mesh new-product` write what a domain team
used to write by hand (the domain's folders and DAG file; a product's contract, GX suite and transform).

* `domain.py`: a new domain (`domains/<d>/`, `dags/<d>.py`, `expectations/<d>/`) and who owns it.
* `sample.py`: one sample page of a source, through the platform's own fetch and Airflow Connection.
* `infer.py`: columns, types, required-ness, key and partition column from that sample.
* `render.py`: the contract, suite and transform texts; `product.py`: `new_product`, which writes them.

Invariants: nothing is overwritten (every file is created exclusively, after every check has passed);
the scaffolding decides only what the sample shows; what a person must decide (the purpose and usage,
each column's description and classification) is written as `TODO`, which the policy `global.decided`
blocks until it is filled in, so a scaffolded product never runs before a person has reviewed it.
Offline commands, like `data-mesh check`: they act on the checkout at DATA_MESH_HOME, never through
the api-server. Nothing here is imported by the plugin or the DAG files.
"""
