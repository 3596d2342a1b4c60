"""A user's own file, outside the piktid-prefect repository: the package's public flows,
served and deployed the ways Prefect's docs teach.

    python my_flows.py direct PARAMETERS_BY_FLOW_JSON           # each flow called in turn
    python my_flows.py serve FLOW_NAME PARAMETERS_JSON [INTERVAL_SECONDS]   # flow.serve()
    python my_flows.py to_deployment PARAMETERS_BY_FLOW_JSON    # prefect.serve(*to_deployment)
    python my_flows.py deploy POOL PARAMETERS_BY_FLOW_JSON      # flow.deploy()

Also the entrypoint file of this folder's ``prefect.yaml`` (``prefect deploy``).
"""

import json
import sys

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.types.entrypoint import EntrypointType

from piktid_prefect import (
    batch_variations,
    edit_backgrounds,
    generate_people,
    person_and_background_variations,
    process_new_images,
)

FLOWS = {
    f.name: f
    for f in (
        batch_variations,
        edit_backgrounds,
        generate_people,
        person_and_background_variations,
        process_new_images,
    )
}

if __name__ == "__main__":
    way = sys.argv[1]
    if way == "direct":
        results = {
            name: FLOWS[name](**parameters).model_dump(mode="json")
            for name, parameters in json.loads(sys.argv[2]).items()
        }
        print(json.dumps(results))
    elif way == "serve":
        interval = float(sys.argv[4]) if len(sys.argv) > 4 else None
        FLOWS[sys.argv[2]].serve(
            name="user-serve",
            interval=interval,
            parameters=json.loads(sys.argv[3]),
            # Overlapping scheduled passes would make the same new outputs: one at a time.
            global_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
        )
    elif way == "to_deployment":
        by_flow = json.loads(sys.argv[2])
        serve(
            *(
                FLOWS[name].to_deployment(name="user-to-deployment", parameters=parameters)
                for name, parameters in by_flow.items()
            ),
            limit=2,
        )
    elif way == "deploy":
        pool, by_flow = sys.argv[2], json.loads(sys.argv[3])
        for name, parameters in by_flow.items():
            # A process pool runs code it can import: the installed package's module path.
            FLOWS[name].deploy(
                name="user-deploy",
                work_pool_name=pool,
                parameters=parameters,
                entrypoint_type=EntrypointType.MODULE_PATH,
                ignore_warnings=True,
            )
    else:
        raise SystemExit(f"unknown way {way!r}")
