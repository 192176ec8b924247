"""The inverse-design loop: condition space, proposals (composite BO and baselines), Optuna
studies with artifacts, trial execution and ranked results."""
