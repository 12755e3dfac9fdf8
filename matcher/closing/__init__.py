"""After the close: checking a close questionnaire's answers, and where the account goes next."""
