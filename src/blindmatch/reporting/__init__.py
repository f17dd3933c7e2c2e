"""blindmatch.reporting: reports of confirmed cases to authorities, and the yearly transparency report.

Entry points (imported from their modules, so importing the package stays cheap):

- ``model.CaseReport`` — the reporting input; ``from_moderation.case_report_from_view`` builds it from a case;
- ``recipients.get_recipient(name).export(case)`` — CyberTipline XML, EU Centre / UK NCA JSON;
- ``submission.SubmissionDriver(client, store).run(case, files)`` — the CyberTipline API lifecycle, resumable;
- ``commands.write_transparency_report(year, records, out_dir)`` and ``commands.export_case(...)`` — for the CLI.

See docs/reporting.md.
"""
