"""After the close: questionnaires, unanswered closes and reminders, interviews, dispositions."""
