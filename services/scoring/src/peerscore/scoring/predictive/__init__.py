"""Predictive scoring: a LightGBM conversion model trained on CRM outcomes, beside the rules.

``features`` builds the model's inputs from person/account state (the same code for training and serving),
``dataset`` replays the event history into point-in-time training sets, ``training`` fits, calibrates and
evaluates, ``registry`` versions models in the database, ``online`` scores each polled batch, ``drift`` compares
recent inputs with the training window.
"""
