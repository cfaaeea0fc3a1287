class ConfigError(Exception):
    """A setting is missing or invalid; the message names the setting.

    Only ``main`` turns this into an exit, so tests and ``check-config`` can inspect which
    setting failed instead of parsing text.

    Attributes:
        setting: the environment-style name (``PORCHLIGHT_PORT``), whichever source the value
            came from, so the operator can search docs and deployment files for one name.
        problem: what is wrong, never including a secret's value.
    """

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem
