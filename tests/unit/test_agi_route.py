from ivr.agi_route import resumed_answers


def test_a_backup_session_reads_the_answers_the_dialplan_hands_it_for_the_menu_steps_only() -> None:
    headers = {"agi_network_script": "ivr", "agi_arg_1": "need=creation", "agi_arg_2": "sector=",
               "agi_arg_3": "size=micro=x", "agi_arg_4": "evil=1", "agi_arg_5": "departement"}
    assert resumed_answers(headers) == {"need": "creation", "sector": "", "size": "micro=x"}


def test_a_first_session_has_nothing_to_resume() -> None:
    assert resumed_answers({"agi_network_script": "ivr", "agi_callerid": "0320123456"}) == {}
