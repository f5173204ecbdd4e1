"""Every table of every feature on the one metadata: imported by create_app and migrations."""
from webapp.audit import models as audit_models  # noqa: F401
from webapp.figures import models as figures_models  # noqa: F401
from webapp.notifications import models as notifications_models  # noqa: F401
from webapp.patrols import models as patrols_models  # noqa: F401
from webapp.people import models as people_models  # noqa: F401
from webapp.registry import models as registry_models  # noqa: F401
from webapp.tickets import models as tickets_models  # noqa: F401
