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

; Members of a union written with |: Cart | None, Cart | Bag | None
(type (binary_operator [(identifier) (attribute)] @reference.type))
(type (binary_operator (binary_operator [(identifier) (attribute)] @reference.type)))
; Types named in a string (a forward reference): def f(x: "Dataset"), -> "mod.Cart"
((type (string (string_content) @reference.type)) (#match? @reference.type "^[A-Za-z_][A-Za-z0-9_.]*$"))

; Names bound to an instance, for receiver types: cart = Cart(), self.client = Client(),
; and annotated parameters: def f(cart: Cart), cart: "Cart" = None, cart: Optional[Cart],
; cart: Cart | None
(assignment left: [(identifier) (attribute)] @assign.target right: (call function: [(identifier) (attribute)] @assign.value))
([(typed_parameter (identifier) @assign.target type: (type [(identifier) (attribute)] @assign.value))
  (typed_default_parameter name: (identifier) @assign.target type: (type [(identifier) (attribute)] @assign.value))])
([(typed_parameter (identifier) @assign.target type: (type (string (string_content) @assign.value)))
  (typed_default_parameter name: (identifier) @assign.target type: (type (string (string_content) @assign.value)))]
  (#match? @assign.value "^[A-Za-z_][A-Za-z0-9_.]*$"))
([(typed_parameter (identifier) @assign.target
    type: (type (generic_type (identifier) @_optional (type_parameter . (type [(identifier) (attribute)] @assign.value) .))))
  (typed_default_parameter name: (identifier) @assign.target
    type: (type (generic_type (identifier) @_optional (type_parameter . (type [(identifier) (attribute)] @assign.value) .))))]
  (#eq? @_optional "Optional"))
([(typed_parameter (identifier) @assign.target
    type: (type [(binary_operator left: [(identifier) (attribute)] @assign.value right: (none))
                 (binary_operator left: (none) right: [(identifier) (attribute)] @assign.value)]))
  (typed_default_parameter name: (identifier) @assign.target
    type: (type [(binary_operator left: [(identifier) (attribute)] @assign.value right: (none))
                 (binary_operator left: (none) right: [(identifier) (attribute)] @assign.value)]))])
; self.client = client (a name typed in the same function), and annotated assignments:
; self.env: Env = None (or Env | None) in a method, env: Env or env: "Env" in a class body
(assignment left: (attribute) @copy.target right: (identifier) @copy.value)
(assignment left: [(identifier) (attribute)] @assign.target type: (type [(identifier) (attribute)] @assign.value))
((assignment left: [(identifier) (attribute)] @assign.target type: (type (string (string_content) @assign.value)))
  (#match? @assign.value "^[A-Za-z_][A-Za-z0-9_.]*$"))
((assignment left: [(identifier) (attribute)] @assign.target
    type: (type (generic_type (identifier) @_optional (type_parameter . (type [(identifier) (attribute)] @assign.value) .))))
  (#eq? @_optional "Optional"))
(assignment left: [(identifier) (attribute)] @assign.target
  type: (type [(binary_operator left: [(identifier) (attribute)] @assign.value right: (none))
               (binary_operator left: (none) right: [(identifier) (attribute)] @assign.value)]))

; Labels: strings that name a class or function where code registers or dispatches by
; name. A string set in a class body (name = 'py', alias = 'EX'; parse.py keeps naming
; attributes only); one string passed with names of the file (register_directive('include',
; Include), connect('source-read', handler)).
(class_definition body: (block (expression_statement
  (assignment left: (identifier) @label.attr right: (string) @label.string))))
(call arguments: (argument_list (string)) @label.args)

; Imports
(import_statement) @import
(import_from_statement) @import
