"""Every feature's tables, so ``Base.metadata`` is complete (Alembic, tests).

Listed explicitly rather than found by import side effects.
"""

from ragbench.auth import models as auth_models
from ragbench.batch import models as batch_models
from ragbench.comparisons import models as comparisons_models
from ragbench.database import Base
from ragbench.datasets import models as datasets_models
from ragbench.evaluations import models as evaluations_models
from ragbench.schedules import models as schedules_models
from ragbench.systems import models as systems_models

FEATURES = (auth_models, systems_models, datasets_models, evaluations_models,
            comparisons_models, batch_models, schedules_models)
metadata = Base.metadata
