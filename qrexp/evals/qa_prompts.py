"""Prompt texts of the long-context QA protocols, verbatim from LongMemEval's evaluate_qa.py and the
QRHead generation scripts (facts of the protocols; do not edit them to 'fix' wording)."""

LME_ANSWER_TEMPLATE = ("I will give you several history chats between you and a user. Please answer the question "
                       "based on the relevant chat history.\n\n\nHistory Chats:\n\n{}\n\nCurrent Date: {}\nQuestion: "
                       "{}\nAnswer:")
LME_SESSION_TEMPLATE = "\n### Session {}:\nSession Date: {}\nSession Content:\n{}\n"

_JUDGE_HEAD = ("I will give you a question, a correct answer, and a response from a model. Please answer yes if the "
               "response contains the correct answer. Otherwise, answer no. ")
_JUDGE_STEPS = ("If the response is equivalent to the correct answer or contains all the intermediate steps to get "
                "the correct answer, you should also answer yes. If the response only contains a subset of the "
                "information required by the answer, answer no. ")
_JUDGE_TAIL = ("\n\nQuestion: {}\n\nCorrect Answer: {}\n\nModel Response: {}\n\nIs the model response correct? "
               "Answer yes or no only.")
_JUDGE_DEFAULT = _JUDGE_HEAD + _JUDGE_STEPS + _JUDGE_TAIL
LME_JUDGE_TEMPLATES = {
    "single-session-user": _JUDGE_DEFAULT,
    "single-session-assistant": _JUDGE_DEFAULT,
    "multi-session": _JUDGE_DEFAULT,
    "temporal-reasoning": _JUDGE_HEAD + _JUDGE_STEPS + (
        "In addition, do not penalize off-by-one errors for the number of days. If the question asks for the "
        "number of days/weeks/months, etc., and the model makes off-by-one errors (e.g., predicting 19 days when "
        "the answer is 18), the model's response is still correct. ") + _JUDGE_TAIL,
    "knowledge-update": _JUDGE_HEAD + (
        "If the response contains some previous information along with an updated answer, the response should be "
        "considered as correct as long as the updated answer is the required answer.") + _JUDGE_TAIL,
    "single-session-preference": (
        "I will give you a question, a rubric for desired personalized response, and a response from a model. "
        "Please answer yes if the response satisfies the desired response. Otherwise, answer no. The model does "
        "not need to reflect all the points in the rubric. The response is correct as long as it recalls and "
        "utilizes the user's personal information correctly.\n\nQuestion: {}\n\nRubric: {}\n\nModel Response: "
        "{}\n\nIs the model response correct? Answer yes or no only."),
}
LME_ABSTENTION_TEMPLATE = (
    "I will give you an unanswerable question, an explanation, and a response from a model. Please answer yes if "
    "the model correctly identifies the question as unanswerable. The model could say that the information is "
    "incomplete, or some other information is given but the asked information is not.\n\nQuestion: {}\n\n"
    "Explanation: {}\n\nModel Response: {}\n\nDoes the model correctly identify the question as unanswerable? "
    "Answer yes or no only.")

CLIPPER_TEMPLATE = (
    "You are provided with a context and a statement. Your task is to carefully read the context and then "
    "determine whether the statement is true or false.  \n\nAnswer TRUE if the statement is true in its entirety "
    "based on the context provided.\nAnswer FALSE if any part of the statement is false based on the context "
    "provided.\n\n<context>{}</context>\n\n\n<statement>{}</statement>\n\n<question>Based on the context provided, "
    "is the above statement TRUE or FALSE?</question>\n\nFirst provide an explanation of your decision-making "
    "process, and then provide your final answer. Use the following format:\n\n<explanation>YOUR EXPLANATION"
    "</explanation>\n<answer>YOUR ANSWER</answer>")
