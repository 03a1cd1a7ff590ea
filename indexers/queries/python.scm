; Definitions
(function_definition name: (identifier) @name) @definition.function
(class_definition name: (identifier) @name) @definition.class
; Module-level constants: MAX_RETRIES = 3, DEFAULTS: dict = {...}
((module (expression_statement (assignment left: (identifier) @name) @definition.constant))
  (#match? @name "^_*[A-Z][A-Z0-9_]*$"))
; Module-level aliases of another name: Eq = Equality, pprint = pretty_print
((module (expression_statement (assignment left: (identifier) @name
    right: [(identifier) (attribute)] @reference.type) @definition.alias))
  (#not-match? @name "^_*[A-Z][A-Z0-9_]*$"))

; References
(call function: [(identifier) (attribute)] @reference.call)
(class_definition superclasses: (argument_list [(identifier) (attribute)] @reference.inherit))
(decorator [(identifier) (attribute)] @reference.call)
(decorator (call function: [(identifier) (attribute)] @reference.call))
; Types named without a call: annotations, isinstance/issubclass checks, dispatch decorators
(type [(identifier) (attribute)] @reference.type)
(call function: (identifier) @_check
  arguments: (argument_list (_) . [(identifier) (attribute)] @reference.type)
  (#any-of? @_check "isinstance" "issubclass"))
(call function: (identifier) @_check
  arguments: (argument_list (_) . (tuple [(identifier) (attribute)] @reference.type))
  (#any-of? @_check "isinstance" "issubclass"))
(decorator (call arguments: (argument_list [(identifier) (attribute)] @reference.type)))

; Bindings to a call's result, for receiver types: cart = Cart(), self.client = Client()
(assignment left: [(identifier) (attribute)] @assign.target right: (call function: [(identifier) (attribute)] @assign.value))

; Imports
(import_statement) @import
(import_from_statement) @import
